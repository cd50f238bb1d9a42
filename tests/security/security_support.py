"""What the security tests share: the privileged non-administrator, passwords, secrets.

``secured_repository`` makes the repository of the ``secured`` fixture: ``make_repo`` with an
administrator password, ``seed()`` (half of its e-people have password hashes), plus
``DELEGATE``: an e-person with a password who administers the top community and its first
collection through ADMIN policies and is in no site group — as privileged as anyone but a site
administrator can be.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from helpers import RepoLocation, make_repo
from helpers.packager import seed, write_tx

from aip import constants as C
from aip.model import Action, EPerson, ResourcePolicy
from aip.repository import auth, objects
from aip.repository import tables as T

ADMIN_PASSWORD = "correct horse battery staple (admin)"
DELEGATE = "delegate@example.org"
DELEGATE_PASSWORD = "delegate's own password"
COMMUNITY = "123456789/1"
COLLECTION = "123456789/4"


def secured_repository(folder: Path) -> RepoLocation:
    loc = make_repo(RepoLocation(folder), admin_password=ADMIN_PASSWORD)
    seed(loc)
    with write_tx(loc) as tx:
        pw, salt, digest = auth.hash_password(DELEGATE_PASSWORD)
        auth.create_eperson(tx, EPerson(email=DELEGATE, first_name="Del", last_name="Egate",
                                        can_log_in=True, password_hash=pw, salt=salt,
                                        digest_algorithm=digest))
        for rtype, handle, find in ((C.TYPE_COMMUNITY, COMMUNITY, objects.community_id),
                                    (C.TYPE_COLLECTION, COLLECTION, objects.collection_id)):
            auth.add_policy(tx, rtype, find(tx, handle),
                            ResourcePolicy(Action.ADMIN, eperson=DELEGATE))
    return loc


def secrets_of(location: RepoLocation) -> dict[str, tuple[str, str]]:
    """Every e-person with a password: e-mail -> (hash, salt), as stored."""
    with location.opened() as repo, repo.transaction(write=False) as tx:
        rows = tx.execute(sa.select(T.eperson.c.email, T.eperson.c.password_hash,
                                    T.eperson.c.salt)
                          .where(T.eperson.c.password_hash.is_not(None))).all()
    return {email: (pw, salt) for email, pw, salt in rows}
