"""Listing use cases: tags (live ones only, under tag expiry), catalog, referrers."""
from __future__ import annotations

from typing import Optional

from ..oci import mediatypes as mt
from ..oci.digest import MAX_DIGEST_LENGTH, parse_digest
from ..oci.errors import RegistryError
from ..oci.names import MAX_NAME_LENGTH, MAX_TAG_LENGTH, listing_after, validate_name
from ..storage.ports import TagLifecycleStore
from .registry_base import Page, RegistryBase
from .tag_policy import is_expired


class ListingsMixin(RegistryBase):
    """Paged listings: a Query per page (the tags list may need more under expiry)."""

    def list_tags(self, repo: str, n: Optional[int], last: Optional[str]) -> Page:
        """Tags in lexical order after `last`."""
        validate_name(repo)
        size = self.page_size(n)
        if size == 0:
            if not self.meta.repo_exists(repo):
                raise RegistryError("NAME_UNKNOWN", {"name": repo})
            return Page([], False)
        if self.tag_rules is not None:
            page = live_tags(self.tag_rules.store, repo, size, listing_after(last, MAX_TAG_LENGTH), self.tag_rules.clock())
            tags, more = page.items, page.more
        else:
            tags, more = self.meta.list_tags(repo, size, listing_after(last, MAX_TAG_LENGTH))
            page = Page(tags, more)
        if not tags and not last and not self.meta.repo_exists(repo):
            raise RegistryError("NAME_UNKNOWN", {"name": repo})
        return page

    def catalog(self, n: Optional[int], last: Optional[str]) -> Page:
        """Repository names in order after `last`."""
        size = self.page_size(n)
        if size == 0:
            return Page([], False)
        names, more = self.meta.list_repos(size, listing_after(last, MAX_NAME_LENGTH))
        return Page(names, more)

    def referrers(self, repo: str, digest: str, artifact_type: Optional[str],
                  n: Optional[int] = None, last: Optional[str] = None) -> tuple[dict, Optional[str]]:
        """The OCI index of manifests whose subject is `digest` (a page of it), and the
        digest to continue after when more follow (for the Link header)."""
        validate_name(repo)
        parse_digest(digest, code="DIGEST_INVALID")
        size = self.page_size(n) or 1
        descriptors: list[dict] = []
        cursor, more = listing_after(last, MAX_DIGEST_LENGTH), True
        # A filter may skip most records: read them FILTER_FETCH at a time, not `size` (n=1 made
        # one Query per record), and at most FILTER_SCAN per request; the Link goes on from there.
        fetch, scanned = (max(size, FILTER_FETCH) if artifact_type else size), 0
        while more and len(descriptors) < size and scanned < FILTER_SCAN:
            page, more = self.meta.referrers(repo, digest, fetch, cursor)
            scanned += len(page)
            for rec in page:
                cursor = rec.digest
                if artifact_type and rec.artifact_type != artifact_type:
                    continue
                d = {"mediaType": rec.media_type, "digest": rec.digest, "size": rec.size}
                if rec.artifact_type:
                    d["artifactType"] = rec.artifact_type
                if rec.annotations:
                    d["annotations"] = rec.annotations
                descriptors.append(d)
                if len(descriptors) == size:
                    more = more or rec is not page[-1]
                    break
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}
        return index, cursor if more else None


FILTER_FETCH = 100     # records per Query when a filter may skip them
FILTER_SCAN = 1000     # records one filtered request reads at most


def live_tags(store: TagLifecycleStore, repo: str, n: int, last: Optional[str], now: float) -> Page:
    """A page of unexpired tags (and their expiry times): a Query per page of the store,
    usually one; expired tags still waiting for the lifecycle run are skipped."""
    items: list[str] = []
    expires: dict = {}
    cursor, more = last, True
    while more and len(items) <= n:
        # expired tags are skipped: never fewer than FILTER_FETCH per Query (n=1 past a long
        # run of them made a Query per two tags)
        entries, more = store.tag_entries(repo, max(n + 1 - len(items), FILTER_FETCH), cursor)
        for e in entries:
            cursor = e.tag
            if not is_expired(e.expires_at, now):
                items.append(e.tag)
                if e.expires_at is not None:
                    expires[e.tag] = e.expires_at
        if not entries:
            break
    page = items[:n]
    return Page(page, len(items) > n, {t: expires[t] for t in page if t in expires} or None)
