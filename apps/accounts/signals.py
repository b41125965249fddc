from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from .teams import create_personal_team


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def give_new_user_a_team(sender, instance, created, raw=False, **kwargs):
    # Every account, however it is made (sign-up, admin, createsuperuser, seed),
    # starts in a team of its own, so no page has to handle "no team".
    if created and not raw:
        create_personal_team(instance)
