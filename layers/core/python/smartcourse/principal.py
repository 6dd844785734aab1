"""Who is calling: the roles of the platform and the principal the authorizer establishes.

Every API (LMS, AI, analytics) sits behind the same authorizer, so these belong to the platform core,
not to the LMS's user model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    STUDENT = "student"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the authorizer established it."""

    user_id: uuid.UUID
    roles: frozenset[str]

    def has_role(self, role: Role | str) -> bool:
        return str(role) in self.roles

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)


# A caller without a token on a route open to anyone. The nil UUID owns nothing and holds no role,
# so every ownership or role check refuses it without a special case.
ANONYMOUS_PRINCIPAL_ID = "anonymous"
ANONYMOUS = Principal(user_id=uuid.UUID(int=0), roles=frozenset())
