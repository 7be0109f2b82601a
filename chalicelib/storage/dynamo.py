"""DynamoDB adapter of the MetadataStore port: one table, pynamodb models.

All models share the key schema and one connection (one botocore client), so
a cold start builds a single DynamoDB client and never calls DescribeTable.
Invariants are held by conditional writes and transactions; see keys.py for
the item layout.
"""
from __future__ import annotations

from .dynamo_blobs import BlobTables
from .dynamo_manifests import ManifestTables
# The models and helpers stay importable from here (other adapters, the container, tests, bench).
from .dynamo_models import (AccountItem, BlobItem, BlobLinkItem, ExpiryItem, Item, ManifestItem, NamespaceItem,
                            RepoItem, TagItem, ThrottleItem, UploadItem, V1ImageItem, VerifyingItem, _connection,
                            _reasons, bind, catalog_page, conditional, create_table, policy_condition, touch_repo)
from .dynamo_uploads import UploadTables

__all__ = ["DynamoMetadataStore", "AccountItem", "BlobItem", "BlobLinkItem", "ExpiryItem", "Item", "ManifestItem",
           "NamespaceItem", "RepoItem", "TagItem", "ThrottleItem", "UploadItem", "V1ImageItem", "VerifyingItem",
           "_connection", "_reasons", "bind", "catalog_page", "conditional", "create_table", "policy_condition",
           "touch_repo"]


class DynamoMetadataStore(ManifestTables, BlobTables, UploadTables):
    """MetadataStore on one DynamoDB table (each base holds one kind of item)."""
