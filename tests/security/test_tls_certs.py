"""``pyconsensus certs init|issue``: a development CA and certificates that name their holder."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from pyconsensus.adapters.trio.identity import Principal, Role, parse_uri
from pyconsensus.cli import main


def identity_of(path: Path) -> Principal:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    (uri,) = names.get_values_for_type(x509.UniformResourceIdentifier)
    return parse_uri(uri)


def test_certs_init_and_issue_name_members_and_clients(tmp_path: Path) -> None:
    directory = str(tmp_path / "certs")
    assert main(["certs", "init", "--cluster", "orders", "--dir", directory]) == 0
    assert main(["certs", "issue", "--member", "2", "--dir", directory]) == 0
    assert main(["certs", "issue", "--client", "ops", "--role", "admin", "--dir", directory]) == 0
    certs = tmp_path / "certs"
    assert identity_of(certs / "node-2.pem") == Principal("orders", member_id=2)
    assert identity_of(certs / "client-ops.pem") == Principal(
        "orders", client="ops", role=Role.ADMIN
    )
    for key in ("ca.key", "node-2.key", "client-ops.key"):
        assert stat.S_IMODE((certs / key).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["init", "--cluster", "orders"], "already exists"),
        (["issue", "--client", "no spaces"], "client name"),
        (["issue", "--member", "1", "--ca", "missing"], "cannot load the CA"),
    ],
)
def test_certs_refusals_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    directory = str(tmp_path)
    assert main(["certs", "init", "--cluster", "orders", "--dir", directory]) == 0
    capsys.readouterr()
    assert main(["certs", *argv, "--dir", directory]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]
