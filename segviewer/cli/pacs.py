"""``segviewer pacs search|get|put|login|logout|servers|campaign|push``: a PACS over DICOMweb.

``SERVER`` is a DICOMweb root address (``http://host:8042/dicom-web``) or the name of a
server saved with ``segviewer pacs servers --add NAME URL``. Credentials come from the OS
keyring (``segviewer pacs login``), never from a file or the command line.
"""

from __future__ import annotations

import getpass
import sys
import time

from segviewer.cli.arguments import input_path, output_folder, positive_float
from segviewer.io.dicomweb import (DEFAULT_TIMEOUT_S, Credentials, DicomWebServer, PacsError, forget_credentials,
                                   parse_series_path, remove_server, resolve_server, save_credentials, save_server,
                                   saved_servers)
from segviewer.io.jsonfile import dumps

NAME = "pacs"
HELP = ("search, retrieve and store DICOM on a PACS over DICOMweb (search, get, put, login, logout, servers, "
        "campaign, push)")


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def server_action(name: str, help_text: str):
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("server", metavar="SERVER", help="DICOMweb address or saved server name")
        if name in ("search", "get", "put"):
            sub.add_argument("--timeout", type=positive_float, default=DEFAULT_TIMEOUT_S,
                             help=f"seconds to wait for the server (default {DEFAULT_TIMEOUT_S:g})")
        return sub

    def filters(sub) -> None:
        sub.add_argument("--patient", help="patient ID (exact; the wildcards * and ? where the server takes "
                                           "them percent-encoded)")
        sub.add_argument("--study-date", help="YYYYMMDD, YYYY-MM-DD or a range YYYYMMDD-YYYYMMDD")
        sub.add_argument("--modality", help="e.g. CT, MR, SEG")

    search = server_action("search", "list the series matching every filter given")
    filters(search)
    search.add_argument("--json", action="store_true", help="print JSON instead of text")

    get = server_action("get", "download one series into a new folder (complete or absent)")
    get.add_argument("series", metavar="STUDY/SERIES", help="the series' study and series UIDs, as search prints them")
    get.add_argument("-o", "--output", required=True, type=output_folder, help="new (or empty) folder")
    get.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")

    put = server_action("put", "store DICOM files (e.g. a DICOM-SEG) on the server")
    put.add_argument("files", nargs="+", type=input_path, metavar="FILE", help="DICOM files or folders")
    put.add_argument("--derive-uids", action="store_true",
                     help="send a de-identified series that lacks UIDs with the UIDs segviewer's DICOM-SEG "
                          "writer derives for it (the files are not changed)")

    login = server_action("login", "keep credentials for a server in the OS keyring (read from the terminal or stdin)")
    kind = login.add_mutually_exclusive_group(required=True)
    kind.add_argument("--user", help="user name for HTTP basic authentication (then the password is asked)")
    kind.add_argument("--token", action="store_true", help="a bearer token (asked)")

    server_action("logout", "forget the credentials kept for a server")

    campaign = server_action("campaign", "make a labelling campaign of the image series a query finds "
                                         "(downloaded into the campaign folder)")
    campaign.add_argument("folder", metavar="DIR", type=output_folder, help="new (or empty) campaign folder")
    filters(campaign)
    push = server_action("push", "store a campaign's finished labels on the server as DICOM-SEG")
    push.add_argument("folder", metavar="DIR", type=input_path, help="the campaign folder")
    push.add_argument("--annotator", help="only this annotator's work (default: everyone's)")

    servers = actions.add_parser("servers", help="list, add or remove saved servers")
    servers.add_argument("--add", nargs=2, metavar=("NAME", "URL"), help="save a server under a name")
    servers.add_argument("--remove", metavar="NAME", help="forget a saved server (not its credentials)")


def run(args) -> int:
    return {"search": _search, "get": _get, "put": _put, "login": _login, "logout": _logout,
            "servers": _servers, "campaign": _campaign, "push": _push}[args.action](args)


def _server(args) -> DicomWebServer:
    return DicomWebServer(resolve_server(args.server), timeout_s=args.timeout)


def _search(args) -> int:
    entries = _server(args).search(patient=args.patient, study_date=args.study_date, modality=args.modality)
    if args.json:
        print(dumps([{**entry.__dict__, "path": entry.path} for entry in entries], indent=2))
    elif not entries:
        print("no series found", file=sys.stderr)
    else:
        for entry in entries:
            print(entry.summary())
    return 0


def _progress_printer(quiet: bool):
    """A progress callback printing to stderr at most twice a second (and at the end)."""
    last = [0.0]

    def progress(fraction: float, text: str) -> None:
        now = time.perf_counter()
        if not quiet and (now - last[0] >= 0.5 or fraction >= 1.0):
            last[0] = now
            print(f"  {100 * fraction:3.0f}% {text}", file=sys.stderr)

    return progress


def _get(args) -> int:
    study, series = parse_series_path(args.series)
    folder = _server(args).retrieve_series(study, series, args.output, progress=_progress_printer(args.quiet))
    print(f"wrote the series to {folder}")
    return 0


def _campaign(args) -> int:
    from segviewer.app.pacs_campaign import campaign_from_query  # noqa: PLC0415 - campaigns only

    campaign = campaign_from_query(args.folder, resolve_server(args.server), patient=args.patient,
                                   study_date=args.study_date, modality=args.modality,
                                   progress=_progress_printer(False))
    print(f"made campaign {campaign.root} with {len(campaign.cases)} case{'s' if len(campaign.cases) != 1 else ''}")
    return 0


def _push(args) -> int:
    from segviewer.app.campaign import Campaign  # noqa: PLC0415
    from segviewer.app.pacs_campaign import store_results  # noqa: PLC0415

    stored = store_results(Campaign.open(args.folder), resolve_server(args.server), annotator=args.annotator)
    for result in stored:
        print(f"{result.case_id} by {result.annotator}: stored as series {result.report.series_uids[0]}")
    if not stored:
        print("no finished labels to store", file=sys.stderr)
    return 0


def _put(args) -> int:
    notes: list[str] = []
    report = _server(args).store(args.files, derive_uids=args.derive_uids, notes=notes)
    for note in notes:
        print(f"segviewer: note: {note}", file=sys.stderr)
    print(f"stored {report.stored} file{'s' if report.stored != 1 else ''} in study "
          f"{', '.join(report.study_uids)}")
    return 0


def _login(args) -> int:
    url = resolve_server(args.server)
    secret = _ask("token" if args.token else f"password for {args.user} at {url}")
    credentials = Credentials("bearer", secret) if args.token else Credentials("basic", secret, args.user)
    save_credentials(url, credentials)
    print(f"credentials for {url} kept in the keyring")
    return 0


def _ask(what: str) -> str:
    """A secret from the terminal (not echoed) or the first line of standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        secret = getpass.getpass(f"{what}: ")
    else:
        secret = (sys.stdin.readline() if sys.stdin is not None else "").rstrip("\r\n")
    if not secret:
        raise PacsError(f"no {what.split(' for ')[0]} given")
    return secret


def _logout(args) -> int:
    url = resolve_server(args.server)
    print(f"credentials for {url} {'removed' if forget_credentials(url) else 'were not kept'}")
    return 0


def _servers(args) -> int:
    if args.add:
        server = save_server(*args.add)
        print(f"saved {server.name}: {server.url}")
    if args.remove:
        if not remove_server(args.remove):
            raise PacsError(f"no saved server named {args.remove!r} (see: segviewer pacs servers)")
        print(f"removed {args.remove}")
    if not (args.add or args.remove):
        for server in saved_servers():
            print(f"{server.name}\t{server.url}")
    return 0
