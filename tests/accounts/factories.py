"""Factories for accounts: members, staff of each role, system clients."""

from __future__ import annotations

import factory
from django.contrib.auth.models import Group

from apps.accounts import services
from apps.accounts.models import SystemClient, User

PASSWORD = "Correct-Horse-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Sequence(lambda n: f"User {n}")
    locale = "ko"
    market_id = "KR"

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))


class MemberFactory(UserFactory):
    roles = factory.PostGeneration(
        lambda obj, create, extracted, **kw: (
            obj.groups.add(Group.objects.get(name="member")) if create else None
        )
    )


def staff(role: str, *, market: str | None = None, email: str | None = None) -> User:
    user, _ = services.staff_create_or_update(
        email=email or f"{role}-{market or 'all'}@staff.test", role=role, password=PASSWORD, market=market
    )
    return user


def system_client(name: str = "data platform") -> tuple[SystemClient, str]:
    return services.system_client_create(name=name)
