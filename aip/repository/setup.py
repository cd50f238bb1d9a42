"""Initialising an empty repository: schema, site, registries, built-in groups, first admin.

Owns: ``initialise`` (what ``aipsync repo init`` does).  A fresh repository has its Site
(handle ``<prefix>/0``), the default metadata and format registries, the built-in groups
``Anonymous`` (id 0) and ``Administrator`` (id 1), and one administrator e-person.
"""

from __future__ import annotations

import sqlalchemy as sa

from aip import constants as C
from aip.errors import AlreadyExistsError
from aip.model import EPerson
from aip.repository import auth, objects, registry
from aip.repository import tables as T
from aip.repository.store import Repository

DEFAULT_SITE_NAME = C.DEFAULT_SITE_NAME
DEFAULT_SITE_URL = C.DEFAULT_SITE_URL


def initialise(repo: Repository, *, handle_prefix: str, admin_email: str,
               admin_password: str | None = None, site_name: str = DEFAULT_SITE_NAME,
               site_url: str = DEFAULT_SITE_URL, admin_first: str | None = None,
               admin_last: str | None = None) -> str:
    """Create the schema and the built-in content; returns the site handle.

    Raises:
        AlreadyExistsError: the repository was initialised before.
    """
    if repo.is_initialised():
        raise AlreadyExistsError(what="repository", key=repo.location)
    repo.create_schema()
    with repo.transaction() as tx:
        tx.execute(sa.insert(T.repository_info).values(key="schema_version",
                                                       value=str(T.SCHEMA_VERSION)))
        handle = objects.init_site(tx, handle_prefix, site_name, site_url)
        registry.install_defaults(tx)
        auth.create_group(tx, "Anonymous", group_id=auth.ANONYMOUS_ID)
        auth.create_group(tx, "Administrator", group_id=auth.ADMINISTRATOR_ID)
        password_hash = salt = digest = None
        if admin_password:
            password_hash, salt, digest = auth.hash_password(admin_password)
        admin_id = auth.create_eperson(tx, EPerson(
            email=admin_email, id=1, first_name=admin_first, last_name=admin_last,
            language="en", can_log_in=True, password_hash=password_hash, salt=salt,
            digest_algorithm=digest), keep_id=True)
        auth.add_member(tx, auth.ADMINISTRATOR_ID, admin_id)
    return handle
