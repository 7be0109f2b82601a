"""Finding an upload session from a request's path: one check for every upload step."""
from __future__ import annotations

from ..oci.errors import RegistryError
from ..oci.names import is_upload_id, validate_name
from ..storage.ports import MetadataStore, UploadSession


def find_session(meta: MetadataStore, repo: str, upload_id: str) -> UploadSession:
    """The open session `upload_id` of `repo`, else BLOB_UPLOAD_UNKNOWN.

    Ids are ours (UUIDs): anything else names nothing and never becomes a storage key.
    A session belongs to the repository it was opened in.
    """
    validate_name(repo)
    if not is_upload_id(upload_id):
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"name": repo, "uuid": upload_id[:64]})
    session = meta.get_upload(upload_id)
    if session is None or session.repo != repo:
        raise RegistryError("BLOB_UPLOAD_UNKNOWN", {"name": repo, "uuid": upload_id})
    return session
