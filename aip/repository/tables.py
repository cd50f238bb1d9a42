"""The embedded repository's database tables (SQLAlchemy Core).

Owns: the table definitions and the schema version.  Modelled on DSpace's own tables
(``community``, ``collection``, ``item``, ``bundle``, ``bitstream``, ``metadatavalue``,
``resourcepolicy``, ``epersongroup`` ...), simplified where DSpace's history shows.  Must not
hold queries; those live in the modules that own each concern.

Conventions:
- ``resource_type`` columns hold ``constants.TYPE_*`` strings; ``resource_id`` the row id.
- A metadata field without a qualifier stores ``qualifier = ''`` (so the unique constraint
  works on every database); the model maps it to ``None``.
- Times are naive UTC ``DateTime`` values with whole seconds.
"""

from __future__ import annotations

import sqlalchemy as sa

#: Version 2 added Configurable Entities (entity and relationship types, relationships,
#: pending relationships, item UUIDs); ``store.Repository`` upgrades a version 1 database.
SCHEMA_VERSION = 2

meta = sa.MetaData()

repository_info = sa.Table(
    "repository_info", meta,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

site = sa.Table(
    "site", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("handle_prefix", sa.String(64), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
)

handle = sa.Table(
    "handle", meta,
    sa.Column("handle", sa.String(256), primary_key=True),
    sa.Column("prefix", sa.String(64), nullable=False),
    sa.Column("resource_type", sa.String(16)),
    sa.Column("resource_id", sa.Integer),
    sa.Index("ix_handle_resource", "resource_type", "resource_id"),
)

handle_sequence = sa.Table(
    "handle_sequence", meta,
    sa.Column("prefix", sa.String(64), primary_key=True),
    sa.Column("next_suffix", sa.Integer, nullable=False),
)

metadata_schema = sa.Table(
    "metadata_schema", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("prefix", sa.String(32), nullable=False, unique=True),
    sa.Column("namespace", sa.Text, nullable=False),
)

metadata_field = sa.Table(
    "metadata_field", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("schema_id", sa.Integer, sa.ForeignKey("metadata_schema.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("element", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(64), nullable=False, server_default=""),
    sa.Column("scope_note", sa.Text),
    sa.UniqueConstraint("schema_id", "element", "qualifier", name="uq_metadata_field"),
)

metadata_value = sa.Table(
    "metadata_value", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_type", sa.String(16), nullable=False),
    sa.Column("resource_id", sa.Integer, nullable=False),
    sa.Column("field_id", sa.Integer, sa.ForeignKey("metadata_field.id"), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("language", sa.String(32)),
    sa.Column("authority", sa.Text),
    sa.Column("confidence", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("place", sa.Integer, nullable=False),
    sa.Index("ix_metadata_value_resource", "resource_type", "resource_id"),
)

bitstream_format = sa.Table(
    "bitstream_format", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("short_description", sa.String(128), nullable=False, unique=True),
    sa.Column("mimetype", sa.String(256), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("support_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("internal", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("extensions", sa.Text, nullable=False, server_default=""),
)

eperson = sa.Table(
    "eperson", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(256), nullable=False, unique=True),
    sa.Column("netid", sa.String(256), unique=True),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("language", sa.String(32)),
    sa.Column("can_log_in", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("require_certificate", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("self_registered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("password_hash", sa.Text),
    sa.Column("salt", sa.Text),
    sa.Column("digest_algorithm", sa.String(32)),
)

epersongroup = sa.Table(
    "epersongroup", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
)

group_member = sa.Table(
    "group_member", meta,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("epersongroup.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("eperson_id", sa.Integer, sa.ForeignKey("eperson.id", ondelete="CASCADE"),
              primary_key=True),
)

group_subgroup = sa.Table(
    "group_subgroup", meta,
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("epersongroup.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("child_id", sa.Integer, sa.ForeignKey("epersongroup.id", ondelete="CASCADE"),
              primary_key=True),
)

bitstream = sa.Table(
    "bitstream", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("bundle_id", sa.Integer, sa.ForeignKey("bundle.id", ondelete="CASCADE")),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sequence_id", sa.Integer, nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("user_format_description", sa.Text),
    sa.Column("format_id", sa.Integer, sa.ForeignKey("bitstream_format.id"), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("md5", sa.String(32), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("store_key", sa.String(128), nullable=False),
    sa.Index("ix_bitstream_bundle", "bundle_id"),
)

community = sa.Table(
    "community", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("handle", sa.String(256), unique=True),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("community.id")),
    sa.Column("logo_id", sa.Integer, sa.ForeignKey("bitstream.id", ondelete="SET NULL")),
    sa.Column("admin_group_id", sa.Integer, sa.ForeignKey("epersongroup.id",
                                                          ondelete="SET NULL")),
)

collection = sa.Table(
    "collection", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("handle", sa.String(256), unique=True),
    sa.Column("logo_id", sa.Integer, sa.ForeignKey("bitstream.id", ondelete="SET NULL")),
    sa.Column("template_item_id", sa.Integer),
    sa.Column("admin_group_id", sa.Integer, sa.ForeignKey("epersongroup.id",
                                                          ondelete="SET NULL")),
    sa.Column("submit_group_id", sa.Integer, sa.ForeignKey("epersongroup.id",
                                                           ondelete="SET NULL")),
    sa.Column("workflow_step_1_group_id", sa.Integer,
              sa.ForeignKey("epersongroup.id", ondelete="SET NULL")),
    sa.Column("workflow_step_2_group_id", sa.Integer,
              sa.ForeignKey("epersongroup.id", ondelete="SET NULL")),
    sa.Column("workflow_step_3_group_id", sa.Integer,
              sa.ForeignKey("epersongroup.id", ondelete="SET NULL")),
)

community_collection = sa.Table(
    "community_collection", meta,
    sa.Column("community_id", sa.Integer, sa.ForeignKey("community.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("collection_id", sa.Integer, sa.ForeignKey("collection.id", ondelete="CASCADE"),
              primary_key=True),
)

harvest = sa.Table(
    "harvested_collection", meta,
    sa.Column("collection_id", sa.Integer, sa.ForeignKey("collection.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("harvest_type", sa.Integer, nullable=False),
    sa.Column("oai_source", sa.Text, nullable=False),
    sa.Column("oai_set_id", sa.Text, nullable=False, server_default=""),
    sa.Column("metadata_config_id", sa.Text, nullable=False, server_default=""),
    sa.Column("harvest_status", sa.Integer, nullable=False, server_default="0"),
)

item = sa.Table(
    "item", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("handle", sa.String(256), unique=True),
    sa.Column("owning_collection_id", sa.Integer,
              sa.ForeignKey("collection.id", ondelete="SET NULL")),
    sa.Column("submitter_id", sa.Integer, sa.ForeignKey("eperson.id", ondelete="SET NULL")),
    sa.Column("in_archive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("withdrawn", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("discoverable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("is_template", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_modified", sa.DateTime, nullable=False),
    sa.Column("uuid", sa.String(36), unique=True),
    sa.Index("ix_item_owning", "owning_collection_id"),
    sa.Index("ix_item_last_modified", "last_modified"),
)

collection_item = sa.Table(
    "collection_item", meta,
    sa.Column("collection_id", sa.Integer, sa.ForeignKey("collection.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("item.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Index("ix_collection_item_item", "item_id"),
)

bundle = sa.Table(
    "bundle", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("item.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("primary_bitstream_id", sa.Integer),
    sa.Index("ix_bundle_item", "item_id"),
)

resource_policy = sa.Table(
    "resource_policy", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("resource_type", sa.String(16), nullable=False),
    sa.Column("resource_id", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("action", sa.Integer, nullable=False),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("epersongroup.id", ondelete="CASCADE")),
    sa.Column("eperson_id", sa.Integer, sa.ForeignKey("eperson.id", ondelete="CASCADE")),
    sa.Column("name", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("policy_type", sa.String(32)),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Index("ix_resource_policy_resource", "resource_type", "resource_id"),
)

workspace_item = sa.Table(
    "workspace_item", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("item.id", ondelete="CASCADE"),
              nullable=False, unique=True),
    sa.Column("collection_id", sa.Integer, sa.ForeignKey("collection.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer, nullable=False, server_default="0"),
)

# -- Configurable Entities (DSpace 7+: entity_type, relationship_type, relationship) ----------
entity_type = sa.Table(
    "entity_type", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(64), nullable=False, unique=True),
)

relationship_type = sa.Table(
    "relationship_type", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("left_type_id", sa.Integer, sa.ForeignKey("entity_type.id"), nullable=False),
    sa.Column("right_type_id", sa.Integer, sa.ForeignKey("entity_type.id"), nullable=False),
    sa.Column("leftward_type", sa.String(64), nullable=False),
    sa.Column("rightward_type", sa.String(64), nullable=False),
    sa.Column("left_min_cardinality", sa.Integer),
    sa.Column("left_max_cardinality", sa.Integer),
    sa.Column("right_min_cardinality", sa.Integer),
    sa.Column("right_max_cardinality", sa.Integer),
    sa.Column("copy_to_left", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("copy_to_right", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("tilted", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("left_type_id", "right_type_id", "leftward_type", "rightward_type",
                        name="uq_relationship_type"),
)

relationship = sa.Table(
    "relationship", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("left_id", sa.Integer, sa.ForeignKey("item.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("right_id", sa.Integer, sa.ForeignKey("item.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("type_id", sa.Integer, sa.ForeignKey("relationship_type.id"), nullable=False),
    sa.Column("left_place", sa.Integer, nullable=False),
    sa.Column("right_place", sa.Integer, nullable=False),
    sa.Column("leftward_value", sa.Text),
    sa.Column("rightward_value", sa.Text),
    sa.Column("latest_version_status", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("left_id", "type_id", "right_id", name="uq_relationship"),
    sa.Index("ix_relationship_left", "left_id"),
    sa.Index("ix_relationship_right", "right_id"),
)

#: A relationship a restore could not make yet: the item here, what its package said, and
#: how to find the other item (handle, UUID) when it arrives.  ``type_*`` are set when the
#: package named the whole type, ``side`` then too (0 left, 1 right).
relationship_pending = sa.Table(
    "relationship_pending", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("item.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("other_handle", sa.String(256)),
    sa.Column("other_uuid", sa.String(36)),
    sa.Column("own_place", sa.Integer),
    sa.Column("other_place", sa.Integer),
    sa.Column("left_type", sa.String(64)),
    sa.Column("right_type", sa.String(64)),
    sa.Column("leftward_type", sa.String(64)),
    sa.Column("rightward_type", sa.String(64)),
    sa.Column("side", sa.Integer),
    sa.Column("leftward_value", sa.Text),
    sa.Column("rightward_value", sa.Text),
    sa.Column("variants_known", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("label", sa.Text),
    sa.Column("latest_version_status", sa.Integer, nullable=False, server_default="0"),
    sa.Column("source_id", sa.Integer),
    sa.Index("ix_relationship_pending_item", "item_id"),
    sa.Index("ix_relationship_pending_handle", "other_handle"),
    sa.Index("ix_relationship_pending_uuid", "other_uuid"),
)
