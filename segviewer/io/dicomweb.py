"""DICOMweb: search a PACS (QIDO-RS), retrieve a series (WADO-RS), store files (STOW-RS).

Built on dicomweb-client (the Imaging Data Commons client) over one ``requests`` session; the
command line (``segviewer pacs``), the app's PACS dock and campaigns all use
:class:`DicomWebServer`. What it promises:

* every failure is one line (:class:`PacsError`): a server that is down, does not answer in
  time, refuses the credentials (401/403) or fails (5xx) is named with what was being done;
* a retrieved series is complete or absent: it is written into a temporary folder beside the
  target and renamed into place (:func:`segviewer.io.atomic.atomic_folder`), so a cancel, a
  dropped connection or a full disk never leaves half a series behind;
* credentials (basic auth or a bearer token) live in the OS keyring (``keyring``), never in a
  settings file; a keyring that would keep them in plain text is refused unless the user
  chose it explicitly (``PYTHON_KEYRING_BACKEND`` or keyring's own configuration file);
* the list of servers (names and addresses, no secrets) is ``pacs_servers.json`` in the
  per-user settings folder, written atomically.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from segviewer.errors import SegviewerError
from segviewer.io.atomic import atomic_folder, write_text_atomically
from segviewer.io.trust import config_folder

if TYPE_CHECKING:  # pydicom and requests load on first use: the window's PACS dock starts without them
    import pydicom
    import requests

#: Seconds to wait for a connection or for the next bytes of an answer.
DEFAULT_TIMEOUT_S = 30.0
#: The keyring "service" under which credentials are stored, one entry per server address.
KEYRING_SERVICE = "segviewer-dicomweb"
SERVERS_FILE = "pacs_servers.json"
#: STOW-RS requests carry at most this many bytes of DICOM files each.
STORE_BATCH_BYTES = 64 << 20
#: Fields asked for in a series search (study-level ones included, as QIDO allows).
SEARCH_FIELDS = ("PatientID", "PatientName", "StudyDate", "StudyDescription", "StudyInstanceUID",
                 "SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "Modality",
                 "NumberOfSeriesRelatedInstances")
#: Ask for the files as stored ("*"): no transcoding on the server, the bytes that were sent.
AS_STORED = (("application/dicom", "*"),)

#: Modalities of series that hold labels of another series, not an image.
LABEL_MODALITIES = frozenset({"SEG", "RTSTRUCT"})

_DATE = re.compile(r"^\d{8}$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")

ProgressCallback = Callable[[float, str], None]


class PacsError(SegviewerError):
    """A DICOMweb server could not do what was asked (down, slow, refused, failed)."""


class PacsCancelled(PacsError):
    """The user cancelled a transfer; nothing was written."""


class CredentialStoreError(PacsError):
    """No secure keyring to keep (or read) credentials in."""


# -- addresses -------------------------------------------------------------------------------
def normalise_url(url: str) -> str:
    """``url`` checked (http or https, a host) and without a trailing slash."""
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PacsError(f"{url!r}: not a DICOMweb address; give one like "
                        "http://pacs.example.org/dicom-web (or the name of a saved server)")
    return text.rstrip("/")


def parse_study_date(text: str) -> str:
    """A DICOM date or range (``20221208``, ``20220101-20221231``, ``-20221231``), also
    written ``2022-12-08``; returned in DICOM form for the query."""
    value = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value = value.replace("-", "")
    parts = value.split("-")
    valid = len(parts) <= 2 and any(parts) and all(not p or _DATE.match(p) for p in parts)
    if not valid:
        raise PacsError(f"study date {text!r}: give YYYYMMDD, YYYY-MM-DD or a range "
                        "YYYYMMDD-YYYYMMDD (either end may be left open)")
    return value


def parse_series_path(text: str) -> tuple[str, str]:
    """``STUDY_UID/SERIES_UID`` -> the two UIDs, checked."""
    parts = text.strip().strip("/").split("/")
    if len(parts) != 2 or not all(_UID.match(p) for p in parts):
        raise PacsError(f"{text!r}: give the series as STUDY_UID/SERIES_UID (as `segviewer pacs "
                        "search` prints them)")
    return parts[0], parts[1]


# -- credentials in the OS keyring -----------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """Basic auth (``user`` and password) or a bearer token (``user`` empty)."""

    kind: str  # "basic" or "bearer"
    secret: str = field(repr=False)
    user: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("basic", "bearer"):
            raise PacsError(f"unknown kind of credentials {self.kind!r} (basic or bearer)")
        if not self.secret or (self.kind == "basic" and not self.user):
            raise PacsError("credentials need a user name and a password, or a token")

    def apply_to(self, session: requests.Session) -> None:
        if self.kind == "basic":
            session.auth = (self.user, self.secret)
        else:
            session.headers["Authorization"] = f"Bearer {self.secret}"


def secure_keyring():
    """The keyring backend to keep credentials in; refuses none and plain-text ones.

    A backend the user chose by name (``PYTHON_KEYRING_BACKEND`` or keyring's configuration
    file) is used as it is. Otherwise keyring's pick is used only when it is a recommended
    one (priority 1 or more): not keyrings.alt's plain-text file, nor the "fail" backend of a
    headless machine."""
    import keyring  # noqa: PLC0415 - backends are discovered on first use (slow)
    import keyring.core  # noqa: PLC0415
    from keyring.backends import fail  # noqa: PLC0415

    try:
        chosen = keyring.core.load_env() or keyring.core.load_config()
    except Exception as error:  # noqa: BLE001 - a named backend that cannot be loaded
        raise CredentialStoreError(f"the keyring backend you named cannot be loaded ({error})") from None
    backend = chosen or keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or (chosen is None and getattr(backend, "priority", 0) < 1):
        raise CredentialStoreError(
            "no secure keyring is available to keep the password (on Linux: GNOME Keyring or "
            "KWallet through the Secret Service, unlocked in your desktop session; or set "
            "PYTHON_KEYRING_BACKEND to a backend you choose); nothing was stored")
    return backend


def _keyring_call(what: str, call: Callable[[], object]):
    from keyring.errors import KeyringError  # noqa: PLC0415

    try:
        return call()
    except KeyringError as error:
        raise CredentialStoreError(f"the keyring could not {what}: {error}") from None


def save_credentials(url: str, credentials: Credentials) -> None:
    """Keep ``credentials`` for the server at ``url`` in the OS keyring."""
    backend = secure_keyring()
    value = json.dumps(asdict(credentials))
    _keyring_call("store the credentials", lambda: backend.set_password(KEYRING_SERVICE, normalise_url(url), value))


def load_credentials(url: str) -> Credentials | None:
    """The credentials kept for ``url``; None when there are none (or no secure keyring)."""
    try:
        backend = secure_keyring()
    except CredentialStoreError:
        return None
    value = _keyring_call("read the credentials", lambda: backend.get_password(KEYRING_SERVICE, normalise_url(url)))
    if not value:
        return None
    try:
        return Credentials(**json.loads(value))
    except (ValueError, TypeError, PacsError):
        raise CredentialStoreError(f"the keyring's entry for {url} is damaged; log in again") from None


def forget_credentials(url: str) -> bool:
    """Remove the credentials kept for ``url``; False when there were none."""
    from keyring.errors import PasswordDeleteError  # noqa: PLC0415

    backend = secure_keyring()
    try:
        backend.delete_password(KEYRING_SERVICE, normalise_url(url))
    except PasswordDeleteError:
        return False
    except Exception as error:  # noqa: BLE001 - a backend's own failure, as one line
        raise CredentialStoreError(f"the keyring could not remove the credentials: {error}") from None
    return True


# -- the list of servers (no secrets) --------------------------------------------------------
@dataclass(frozen=True)
class SavedServer:
    name: str
    url: str


def cache_folder() -> Path:
    """Where the app keeps downloaded series (``$XDG_CACHE_HOME/segviewer/pacs``)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "segviewer" / "pacs"


def servers_path() -> Path:
    return config_folder() / SERVERS_FILE


def saved_servers() -> list[SavedServer]:
    """The servers the user saved; [] when none (or the file is damaged: it is rewritten)."""
    try:
        entries = json.loads(servers_path().read_text(encoding="utf-8"))
        return [SavedServer(str(e["name"]), normalise_url(str(e["url"]))) for e in entries]
    except (OSError, ValueError, TypeError, KeyError, PacsError):
        return []


def save_server(name: str, url: str) -> SavedServer:
    """Add (or re-point) the server ``name``; returns it."""
    name = name.strip()
    if not name or "/" in name or ":" in name:
        raise PacsError(f"server name {name!r}: give a plain name (no '/' or ':')")
    server = SavedServer(name, normalise_url(url))
    servers = [s for s in saved_servers() if s.name != name] + [server]
    _write_servers(servers)
    return server


def remove_server(name: str) -> bool:
    servers = saved_servers()
    kept = [s for s in servers if s.name != name]
    if len(kept) != len(servers):
        _write_servers(kept)
    return len(kept) != len(servers)


def _write_servers(servers: list[SavedServer]) -> None:
    path = servers_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps([asdict(s) for s in servers], indent=2) + "\n",
                          what="the server list")


def resolve_server(name_or_url: str) -> str:
    """A saved server's address by name, or ``name_or_url`` checked as an address."""
    for server in saved_servers():
        if server.name == name_or_url:
            return server.url
    return normalise_url(name_or_url)


# -- search results --------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesEntry:
    """One series a search found."""

    study_uid: str
    series_uid: str
    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    study_description: str = ""
    series_description: str = ""
    series_number: str = ""
    modality: str = ""
    instances: int | None = None

    @property
    def path(self) -> str:
        """``STUDY_UID/SERIES_UID``, as ``segviewer pacs get`` takes it."""
        return f"{self.study_uid}/{self.series_uid}"

    @classmethod
    def from_json(cls, item: dict) -> "SeriesEntry":
        import pydicom  # noqa: PLC0415 - see the imports

        dataset = pydicom.Dataset.from_json(item)

        def text(keyword: str) -> str:
            value = dataset.get(keyword, "")
            return "" if value is None else str(value)

        count = text("NumberOfSeriesRelatedInstances")
        return cls(study_uid=text("StudyInstanceUID"), series_uid=text("SeriesInstanceUID"),
                   patient_id=text("PatientID"), patient_name=text("PatientName"),
                   study_date=text("StudyDate"), study_description=text("StudyDescription"),
                   series_description=text("SeriesDescription"), series_number=text("SeriesNumber"),
                   modality=text("Modality"), instances=int(count) if count.isdigit() else None)

    def summary(self) -> str:
        """One line for a list: date, modality, patient, description, count, the path."""
        count = "?" if self.instances is None else str(self.instances)
        description = self.series_description or self.study_description
        return (f"{self.study_date or '-':8s}  {self.modality or '-':3s}  {self.patient_id or '-':12s}  "
                f"{count:>4s} images  {description!r}  {self.path}")


@dataclass(frozen=True)
class StoreReport:
    """What a STOW-RS request stored."""

    stored: int
    study_uids: tuple[str, ...]
    series_uids: tuple[str, ...] = ()


# -- the server ------------------------------------------------------------------------------
class DicomWebServer:
    """One DICOMweb service (``url`` is its root, e.g. ``http://host:8042/dicom-web``).

    ``credentials`` default to those kept in the keyring for ``url``; ``timeout_s`` bounds the
    wait for a connection and for each part of an answer."""

    def __init__(self, url: str, credentials: Credentials | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import requests  # noqa: PLC0415 - see the imports
        from dicomweb_client.api import DICOMwebClient  # noqa: PLC0415 - heavy import, on first use

        self.url = normalise_url(url)
        self.timeout_s = timeout_s
        session = requests.Session()
        credentials = credentials if credentials is not None else load_credentials(self.url)
        if credentials is not None:
            credentials.apply_to(session)
        # dicomweb-client streams answers in chunks of 1 MB (its default): a download's
        # progress and Cancel come image by image, not after the whole series has arrived
        self._client = DICOMwebClient(self.url, session=session, timeout=timeout_s)
        self._client.set_http_retry_params(retry=False)  # a failure is reported at once

    # -- QIDO-RS
    def search(self, patient: str | None = None, study_date: str | None = None,
               modality: str | None = None, limit: int | None = None) -> list[SeriesEntry]:
        """Series matching every filter given (``patient`` is the patient ID), newest study
        first. QIDO's wildcards ``*`` and ``?`` reach the server percent-encoded (as
        dicomweb-client sends them), which Orthanc 1.10 takes literally."""
        filters = {}
        if patient:
            filters["PatientID"] = patient.strip()
        if study_date:
            filters["StudyDate"] = parse_study_date(study_date)
        if modality:
            filters["Modality"] = modality.strip().upper()
        with self._answering("searching"):
            found = self._client.search_for_series(search_filters=filters, fields=list(SEARCH_FIELDS),
                                                   limit=limit)
        entries = [SeriesEntry.from_json(item) for item in found]
        return sorted(entries, key=lambda e: (e.study_date, e.study_uid, e.series_number), reverse=True)

    def series_size(self, study_uid: str, series_uid: str) -> int:
        """How many instances the series holds (one QIDO row); PacsError when it has none."""
        with self._answering("looking up the series"):
            found = self._client.search_for_series(study_uid, search_filters={"SeriesInstanceUID": series_uid},
                                                   fields=["NumberOfSeriesRelatedInstances"])
        entries = [SeriesEntry.from_json(item) for item in found]
        if not entries or not entries[0].instances:
            raise PacsError(f"{self.url}: has no series {study_uid}/{series_uid}")
        return entries[0].instances

    # -- WADO-RS
    def retrieve_series(self, study_uid: str, series_uid: str, folder: str | Path, *,
                        progress: ProgressCallback | None = None,
                        cancelled: Callable[[], bool] | None = None) -> Path:
        """Download a series into ``folder`` (new or empty), one file per instance, as stored.

        Complete or absent: the files go to a temporary folder renamed into place at the end;
        a cancel (``cancelled()`` true) raises :class:`PacsCancelled` and leaves nothing."""
        report = progress or (lambda fraction, text: None)
        with atomic_folder(folder, what="the series") as temporary:  # checks the folder first
            expected = self.series_size(study_uid, series_uid)
            report(0.0, f"0 of {expected} images")
            received = 0
            with self._answering("retrieving the series"):
                for dataset in self._client.iter_series(study_uid, series_uid, media_types=AS_STORED):
                    if cancelled is not None and cancelled():
                        raise PacsCancelled("retrieval cancelled; nothing was written")
                    received += 1
                    _write_instance(dataset, temporary, received)
                    report(received / max(expected, received), f"{received} of {expected} images")
            if received != expected:
                raise PacsError(f"{self.url}: the answer ended after {received} of the series' {expected} "
                                "images (did the server stop?); nothing was written")
        return Path(folder)

    def retrieve_to_cache(self, study_uid: str, series_uid: str, *, progress: ProgressCallback | None = None,
                          cancelled: Callable[[], bool] | None = None) -> Path:
        """The series in the download cache (:func:`cache_folder`), fetched when missing.

        A folder from an earlier download is reused when it holds as many files as the series
        now has (instances never change under their UID); otherwise a new folder is made
        beside it, so an image open from the old one is never pulled away."""
        if not _UID.match(series_uid):
            raise PacsError(f"{series_uid!r}: not a series UID")
        expected = self.series_size(study_uid, series_uid)
        base = cache_folder() / series_uid
        for folder in sorted(cache_folder().glob(f"{series_uid}*")) if base.parent.is_dir() else []:
            if folder.is_dir() and folder.name.split("~")[0] == series_uid and \
                    sum(1 for _ in folder.iterdir()) == expected:
                if progress is not None:
                    progress(1.0, f"{expected} images, downloaded before")
                return folder
        target = base
        while target.exists():
            target = base.with_name(f"{series_uid}~{secrets.token_hex(3)}")
        base.parent.mkdir(parents=True, exist_ok=True)
        return self.retrieve_series(study_uid, series_uid, target, progress=progress, cancelled=cancelled)

    # -- STOW-RS
    def store(self, paths: Iterable[str | Path], progress: ProgressCallback | None = None, *,
              derive_uids: bool = False, notes: list[str] | None = None) -> StoreReport:
        """Send DICOM files (folders: every file in them); each must carry its study, series
        and SOP instance UIDs. Raises PacsError naming the first file the server refused.

        ``derive_uids``: fill the UIDs a de-identification left empty (in the copies sent,
        never in the files) exactly as the DICOM-SEG writer derives them, per frame of
        reference, so a SEG written locally on such a series references what is stored;
        what was filled is added to ``notes``."""
        files = list(_dicom_files(paths))
        items = [(_read_for_store(path, require_uids=not derive_uids), path) for path in files]
        if derive_uids:
            from segviewer.io.dicom_seg import complete_source_uids  # noqa: PLC0415 - the writer's own rule

            series: dict[str, list[pydicom.Dataset]] = {}
            for dataset, _ in items:
                series.setdefault(str(dataset.get("FrameOfReferenceUID", "") or ""), []).append(dataset)
            for datasets in series.values():
                (notes if notes is not None else []).extend(complete_source_uids(datasets))
        return self.store_datasets(items, progress)

    def store_segmentation(self, label_map, reference, **options) -> StoreReport:
        """Build a DICOM-SEG of ``label_map`` on ``reference`` (the series it was drawn on;
        ``options`` as :func:`segviewer.io.dicom_seg.build_dicom_seg`) and store it."""
        from segviewer.io.dicom_seg import build_dicom_seg  # noqa: PLC0415 - highdicom is heavy

        seg = build_dicom_seg(label_map, reference, **options)
        return self.store_datasets([(seg, "the DICOM-SEG")])

    def store_datasets(self, items: list[tuple[pydicom.Dataset, str | Path]],
                       progress: ProgressCallback | None = None) -> StoreReport:
        """Send ``(dataset, where it came from)`` pairs in batches of at most
        :data:`STORE_BATCH_BYTES`; the source names the first refused one in the error."""
        report = progress or (lambda fraction, text: None)
        stored, studies, series = 0, [], []
        for batch in _batches(items):
            with self._answering("storing"):
                answer = self._client.store_instances([dataset for dataset, _ in batch])
            failed = list(answer.get("FailedSOPSequence", []))
            if failed:
                uid = str(failed[0].get("ReferencedSOPInstanceUID", ""))
                named = next((str(p) for d, p in batch if str(d.SOPInstanceUID) == uid), uid)
                reason = failed[0].get("FailureReason", "?")
                raise PacsError(f"{self.url}: refused {len(failed)} of {len(batch)} files, the first "
                                f"{named} (failure reason {reason}); {stored} stored before")
            stored += len(batch)
            studies.extend(str(d.StudyInstanceUID) for d, _ in batch)
            series.extend(str(d.SeriesInstanceUID) for d, _ in batch)
            report(stored / len(items), f"{stored} of {len(items)} files stored")
        return StoreReport(stored, tuple(dict.fromkeys(studies)), tuple(dict.fromkeys(series)))

    @contextlib.contextmanager
    def _answering(self, doing: str) -> Iterator[None]:
        """Turn what ``requests`` and the server say into one line for the user."""
        import requests  # noqa: PLC0415 - see the imports
        from pydicom.errors import InvalidDicomError  # noqa: PLC0415

        try:
            yield
        except requests.exceptions.Timeout:
            raise PacsError(f"{self.url}: no answer within {self.timeout_s:g} s while {doing}; "
                            "the server is slow or stuck") from None
        except requests.exceptions.ConnectionError as error:
            raise PacsError(f"{self.url}: cannot connect while {doing} ({_reason(error)}); is the "
                            "server running and the address right?") from None
        except requests.exceptions.HTTPError as error:
            raise PacsError(_http_message(self.url, doing, error.response)) from None
        except requests.exceptions.RequestException as error:
            raise PacsError(f"{self.url}: {doing} failed ({_reason(error)})") from None
        except (ValueError, KeyError, InvalidDicomError) as error:  # not DICOMweb (a web page?)
            raise PacsError(f"{self.url}: the answer while {doing} is not DICOMweb ({error}); is "
                            "this the DICOMweb root (often ending in /dicom-web)?") from None


def _reason(error: Exception) -> str:
    text = str(error.args[0] if error.args else error)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    return text.splitlines()[0][:200] if text else type(error).__name__


def _http_message(url: str, doing: str, response: requests.Response | None) -> str:
    status = response.status_code if response is not None else 0
    if status in (401, 403):
        return (f"{url}: the server refused access while {doing} (HTTP {status}); store the right "
                f"credentials with: segviewer pacs login {url} --user NAME (or --token)")
    if status == 404:
        return f"{url}: not found while {doing} (HTTP 404); is this the DICOMweb root address?"
    if status >= 500:
        return f"{url}: the server failed while {doing} (HTTP {status}); see its log"
    reason = response.reason if response is not None else ""
    return f"{url}: the server answered HTTP {status} {reason} while {doing}".rstrip()


# -- files -----------------------------------------------------------------------------------
def _write_instance(dataset: pydicom.Dataset, folder: Path, index: int) -> None:
    """One retrieved instance as a file: the very bytes the server sent when pydicom kept
    them (``FileDataset.buffer``, pydicom 3), which saves re-encoding every element."""
    uid = str(dataset.get("SOPInstanceUID", ""))
    path = folder / (f"{uid}.dcm" if _UID.match(uid) else f"instance{index:05d}.dcm")
    buffer = getattr(dataset, "buffer", None)
    if isinstance(buffer, io.BytesIO) and not buffer.closed and buffer.getbuffer()[128:132] == b"DICM":
        path.write_bytes(buffer.getbuffer())
    else:
        dataset.save_as(path, enforce_file_format=True)


def _dicom_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The files given, folders replaced by the files in them (sorted; hidden ones skipped)."""
    given = False
    for path in map(Path, paths):
        given = True
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            yield path
        else:
            raise PacsError(f"{path}: no such file or folder")
    if not given:
        raise PacsError("no files to store")


def _read_for_store(path: Path, require_uids: bool = True) -> pydicom.Dataset:
    import pydicom  # noqa: PLC0415 - see the imports
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise PacsError(f"{path}: not a DICOM file ({str(error).splitlines()[0] if str(error) else 'unreadable'})") from None
    missing = [k for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID") if not dataset.get(k)]
    if missing and require_uids:
        raise PacsError(f"{path}: has no {', '.join(missing)} (anonymised without new UIDs?); a "
                        "PACS cannot store it (--derive-uids sends it with the UIDs a SEG written "
                        "on it refers to)")
    return dataset


def _batches(items: list[tuple[pydicom.Dataset, str | Path]]) -> Iterator[list[tuple[pydicom.Dataset, str | Path]]]:
    """Groups of items of at most :data:`STORE_BATCH_BYTES` of pixel data (and headers) each."""
    batch, size = [], 0
    for item in items:
        length = len(item[0].get("PixelData", b"") or b"") + 4096
        if batch and size + length > STORE_BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch:
        yield batch
