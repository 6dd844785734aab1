"""Password hashing: argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def burn_time(self, password: str) -> None:
        """Spend what a real verification costs, so an unknown email is not told apart by timing."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("smartcourse-dummy-password")
        self.verify(self._dummy_hash, password)


def fast_passwords_for_tests() -> Passwords:
    """Cheap parameters: only for tests, where hundreds of hashes would otherwise dominate run time."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
