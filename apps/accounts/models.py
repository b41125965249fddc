from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models, transaction
from django.utils import timezone

from vibeflow_site.encryption import decrypt, encrypt


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an e-mail address; there is no username."""

    username = None
    email = models.EmailField("e-mail address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self):
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email.split("@")[0]


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# What each role may do, in one place: views, consumers and tasks ask these.
ROLES_THAT_WRITE = {Role.OWNER, Role.ADMIN, Role.MEMBER}
ROLES_THAT_MANAGE_MEMBERS = {Role.OWNER, Role.ADMIN}


class LastOwnerError(Exception):
    """Raised when a change would leave a team without an owner."""


class Team(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    personal = models.BooleanField(default=False, help_text="Created with its owner's account")
    # Where alerts also go (a Slack-compatible incoming webhook): its URL is a secret, kept
    # encrypted; only its host is shown again.
    alert_webhook = models.TextField(blank=True)
    alert_webhook_host = models.CharField(max_length=255, blank=True)
    # Members must turn on two-factor authentication (accounts/middleware.py).
    require_2fa = models.BooleanField("Require two-factor authentication", default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def owners(self):
        return self.memberships.filter(role=Role.OWNER)

    def change_role(self, membership: Membership, role: str) -> None:
        """Give a member a new role, refusing to demote the last owner."""
        # Lock the team's owner rows so two admins demoting the last two owners
        # at the same moment cannot both succeed.
        with transaction.atomic():
            owners = list(self.memberships.select_for_update().filter(role=Role.OWNER))
            if membership.role == Role.OWNER and role != Role.OWNER and len(owners) <= 1:
                raise LastOwnerError(
                    "A team needs at least one owner. Make someone else an owner first."
                )
            membership.role = role
            membership.save(update_fields=["role"])

    def remove_member(self, membership: Membership) -> None:
        with transaction.atomic():
            owners = list(self.memberships.select_for_update().filter(role=Role.OWNER))
            if membership.role == Role.OWNER and len(owners) <= 1:
                raise LastOwnerError(
                    "A team needs at least one owner. Make someone else an owner first."
                )
            membership.delete()


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")
        ]
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in ROLES_THAT_WRITE

    @property
    def can_manage_members(self) -> bool:
        return self.role in ROLES_THAT_MANAGE_MEMBERS


def _invitation_expiry():
    return timezone.now() + timedelta(days=settings.INVITATION_DAYS)


class InvitationError(Exception):
    """An invitation link that cannot be used; the message is for the person who clicked it."""


class Invitation(models.Model):
    """A pending invitation by e-mail.

    The link carries a signed id (see apps.accounts.invitations); nothing secret is
    stored, and an invitation works once, before it expires, for the address it
    was sent to.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and team; accepted ones stay as history.
            models.UniqueConstraint(
                fields=["team", "email"],
                condition=models.Q(accepted_at__isnull=True),
                name="one_open_invitation_per_email",
            )
        ]

    def __str__(self):
        return f"{self.email} to {self.team}"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at

    def accept(self, user) -> Membership:
        """Turn the invitation into a membership of ``user``.

        1. Lock the row, so two clicks on the same link cannot both create members.
        2. Refuse used, expired or misaddressed invitations with a sentence for the user.
        3. Create the membership (or keep an existing one) and mark the invitation used.
        """
        with transaction.atomic():
            invitation = Invitation.objects.select_for_update().get(pk=self.pk)
            if invitation.accepted_at is not None:
                raise InvitationError("This invitation has already been used.")
            if invitation.is_expired:
                raise InvitationError(
                    "This invitation has expired. Ask a team admin to send a new one."
                )
            if invitation.email.lower() != user.email.lower():
                raise InvitationError(
                    f"This invitation was sent to {invitation.email}. Sign in with that address to accept it."
                )
            membership, created = Membership.objects.get_or_create(
                team=invitation.team, user=user, defaults={"role": invitation.role}
            )
            invitation.accepted_at = timezone.now()
            invitation.accepted_by = user
            invitation.save(update_fields=["accepted_at", "accepted_by"])
            return membership


class HubToken(models.Model):
    """A user's Hugging Face access token, kept encrypted (vibeflow_site/encryption.py) for
    pushing their models to the Hub. Only the last four characters are ever shown again."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hub_token"
    )
    ciphertext = models.TextField()
    last4 = models.CharField(max_length=4)
    hub_username = models.CharField(
        max_length=96, blank=True, help_text="Who the Hub says the token belongs to"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Hub token …{self.last4} of {self.user}"

    @classmethod
    def store(cls, user, token: str, hub_username: str = "") -> HubToken:
        row, _ = cls.objects.update_or_create(
            user=user,
            defaults={
                "ciphertext": encrypt(token),
                "last4": token[-4:],
                "hub_username": hub_username,
            },
        )
        return row

    def reveal(self) -> str:
        return decrypt(self.ciphertext)
