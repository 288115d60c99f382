"""`netweave certs` through its own parser: exit codes, files written and one-line error texts."""

import argparse
import base64
import io
import sys
from pathlib import Path

import pytest
import yaml

from certs import cli
from certs.rotation import load_certificate
from tests.paths import REPO

ADMISSION = REPO / "deploy" / "webhook" / "admission.yaml"


def _run(*argv: str) -> int:
    return cli.main(list(argv))


def _generate(directory: Path, *extra: str) -> int:
    return _run(
        "generate", "--service", "netweave-webhook", "--namespace", "netweave-system", "--out", str(directory), *extra
    )


def _single_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err.strip()


def test_generate_writes_four_files_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _generate(tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    out = capsys.readouterr().out
    assert f"{tmp_path / 'out'}: created CA" in out
    assert "serving certificate valid until" in out


def test_generate_twice_keeps_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path)
    before = (tmp_path / "tls.crt").read_bytes()
    assert _generate(tmp_path) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (tmp_path / "tls.crt").read_bytes() == before


def test_generate_force_warns_that_the_ca_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path)
    capsys.readouterr()
    assert _generate(tmp_path, "--force") == 0
    assert "warning: the CA changed" in capsys.readouterr().err


def test_generate_rsa_with_custom_days(tmp_path: Path) -> None:
    assert _generate(tmp_path, "--key-type", "rsa", "--days", "30") == 0
    cert = load_certificate(tmp_path / "tls.crt")
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 30
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--service", "Bad_Name", "--namespace", "ns"],
            "netweave certs generate: --service 'Bad_Name' is not a DNS-1123 label",
            id="bad-service",
        ),
        pytest.param(
            ["--service", "svc", "--namespace", ""],
            "netweave certs generate: --namespace must not be empty",
            id="empty-namespace",
        ),
        pytest.param(
            ["--service", "svc", "--namespace", "ns", "--days", "0"],
            "netweave certs generate: --days must be between 1 and 36500, not 0",
            id="zero-days",
        ),
        pytest.param(
            ["--service", "svc", "--namespace", "ns", "--ca-days", "-1"],
            "netweave certs generate: --ca-days must be between 1 and 36500, not -1",
            id="negative-ca-days",
        ),
        pytest.param(
            ["--service", "svc", "--namespace", "ns", "--days", "999999999999"],
            "netweave certs generate: --days must be between 1 and 36500, not 999999999999",
            id="days-beyond-datetime",
        ),
    ],
)
def test_generate_rejects_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert _run("generate", *argv, "--out", str(tmp_path / "out")) == 2
    assert _single_error(capsys).startswith(message)
    assert not (tmp_path / "out").exists()


def test_generate_into_a_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    assert _generate(tmp_path / "file") == 2
    assert _single_error(capsys).endswith("exists and is not a directory")


def test_generate_below_a_file_reports_the_os_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    assert _generate(tmp_path / "file" / "sub") == 2
    assert _single_error(capsys) == f"netweave certs generate: {tmp_path / 'file' / 'sub'}: Not a directory"


def test_bundle_prints_base64_of_the_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path)
    capsys.readouterr()
    assert _run("bundle", "--ca", str(tmp_path / "ca.crt")) == 0
    out = capsys.readouterr().out
    assert base64.b64decode(out.strip()) == (tmp_path / "ca.crt").read_bytes()


def test_bundle_patches_a_file_into_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path)
    capsys.readouterr()
    out = tmp_path / "patched.yaml"
    assert _run("bundle", "--ca", str(tmp_path / "ca.crt"), "--patch", str(ADMISSION), "--out", str(out)) == 0
    expected = base64.b64encode((tmp_path / "ca.crt").read_bytes()).decode()
    documents = list(yaml.safe_load_all(out.read_text()))
    assert {w["clientConfig"]["caBundle"] for d in documents for w in d["webhooks"]} == {expected}
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("patched caBundle:") == 5


def test_bundle_patches_standard_input_to_standard_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _generate(tmp_path)
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO(ADMISSION.read_text()))
    assert _run("bundle", "--ca", str(tmp_path / "ca.crt"), "--patch", "-") == 0
    assert "caBundle: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        pytest.param(
            None, ["--ca", "{d}/missing.crt"], "netweave certs bundle: {d}/missing.crt: cannot read", id="no-ca"
        ),
        pytest.param(
            "generate", ["--ca", "{d}/tls.crt"], "is not a CA certificate (use ca.crt)", id="leaf-instead-of-ca"
        ),
        pytest.param("generate", ["--ca", "{d}/ca.key"], "{d}/ca.key: not a PEM certificate", id="key-not-cert"),
        pytest.param(
            "generate",
            ["--ca", "{d}/ca.crt", "--patch", "{d}/bad.yaml"],
            "--patch {d}/bad.yaml: not valid YAML",
            id="patch-not-yaml",
        ),
        pytest.param(
            "generate",
            ["--ca", "{d}/ca.crt", "--patch", "{d}/ca.key.der"],
            "--patch {d}/ca.key.der: not UTF-8 text",
            id="patch-binary",
        ),
        pytest.param(
            "generate",
            ["--ca", "{d}/ca.crt", "--patch", "{d}/missing.yaml"],
            "netweave certs bundle: {d}/missing.yaml: No such file or directory",
            id="patch-missing",
        ),
    ],
)
def test_bundle_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str | None, argv: list[str], message: str
) -> None:
    if setup:
        _generate(tmp_path)
        (tmp_path / "bad.yaml").write_text("kind: [unclosed\n")
        (tmp_path / "ca.key.der").write_bytes(b"\x30\x82\xff\xfe")
        capsys.readouterr()
    assert _run("bundle", *[arg.format(d=tmp_path) for arg in argv]) == 2
    assert message.format(d=tmp_path) in _single_error(capsys)


def test_bundle_of_a_yaml_without_webhooks_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path)
    (tmp_path / "svc.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
    capsys.readouterr()
    assert _run("bundle", "--ca", str(tmp_path / "ca.crt"), "--patch", str(tmp_path / "svc.yaml")) == 2
    assert "no webhooks found" in _single_error(capsys)


def test_renew_within_margin_reissues(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path, "--days", "10")
    before = (tmp_path / "tls.crt").read_bytes()
    ca_before = (tmp_path / "ca.crt").read_bytes()
    capsys.readouterr()
    assert _run("renew", "--dir", str(tmp_path), "--margin-days", "30") == 0
    assert "renewed serving certificate" in capsys.readouterr().out
    assert (tmp_path / "tls.crt").read_bytes() != before
    assert (tmp_path / "ca.crt").read_bytes() == ca_before


def test_renew_outside_margin_does_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _generate(tmp_path)
    capsys.readouterr()
    assert _run("renew", "--dir", str(tmp_path)) == 0
    assert "nothing to do" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--dir", "{d}/absent"], "--dir {d}/absent: no such directory", id="absent-dir"),
        pytest.param(["--dir", "{d}"], "no serving certificate to renew", id="empty-dir"),
        pytest.param(["--dir", "{d}", "--margin-days", "-1"], "--margin-days must be between 0", id="negative-margin"),
        pytest.param(["--dir", "{d}", "--margin-days", "9999999999"], "and 36500, not 9999999999", id="huge-margin"),
    ],
)
def test_renew_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert _run("renew", *[arg.format(d=tmp_path) for arg in argv]) == 2
    error = _single_error(capsys)
    assert error.startswith("netweave certs renew: ")
    assert message.format(d=tmp_path) in error


def test_run_with_a_namespace_built_by_the_caller(tmp_path: Path) -> None:
    args = argparse.Namespace(
        certs_command="generate",
        service="netweave-webhook",
        namespace="netweave-system",
        out=tmp_path,
        key_type=None,
        days=365,
        ca_days=3650,
        force=False,
    )
    assert cli.run(args) == 0
    assert (tmp_path / "tls.crt").exists()


def test_run_with_an_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(argparse.Namespace(certs_command="sign")) == 2
    assert "unknown command 'sign'" in _single_error(capsys)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["generate", "--service", "s"], id="missing-required"),
        pytest.param(["generate", "--service", "s", "--namespace", "n", "--out", "o", "--days", "x"], id="int"),
        pytest.param(["generate", "--service", "s", "--namespace", "n", "--out", "o", "--key-type", "x"], id="choice"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(*argv)
    assert exit_info.value.code == 2
    assert "usage: netweave certs" in capsys.readouterr().err


def test_the_subcommand_registers_on_a_parent_parser(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="netweave")
    add = parser.add_subparsers(dest="command", required=True)
    cli.add_arguments(add.add_parser("certs"))
    args = parser.parse_args(["certs", "renew", "--dir", str(tmp_path)])
    assert (args.command, args.certs_command, args.dir, args.margin_days) == ("certs", "renew", tmp_path, 30)
