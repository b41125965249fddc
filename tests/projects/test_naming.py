from apps.projects.naming import name_from_goal


def test_it_drops_filler_words():
    assert (
        name_from_goal("I want a model that answers support e-mails", set())
        == "Answers support e-mails"
    )


def test_it_numbers_a_taken_name():
    assert name_from_goal("Summarise contracts", {"summarise contracts"}) == "Summarise contracts 2"
    assert (
        name_from_goal("Summarise contracts", {"summarise contracts", "summarise contracts 2"})
        == "Summarise contracts 3"
    )


def test_it_falls_back_when_only_filler_remains():
    assert name_from_goal("I want to train a model", set()) == "New project"


def test_it_drops_stray_apostrophes():
    assert (
        name_from_goal("a bot that answers our users' questions", set())
        == "Bot answers users questions"
    )
