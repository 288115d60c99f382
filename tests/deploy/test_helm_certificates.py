"""Renewal of the self-generated webhook certificate (certificates.mode=self-generated).

`helm template` performs no lookups, so the decision lives in the chart's `netweave.selfGeneratedTLS` helper: the
tests render it through a throwaway chart holding a copy of the chart's _helpers.tpl, with the existing Secret and
the time given as values, and render the real chart for what a fresh install records.
"""

from __future__ import annotations

import base64
import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.deploy.test_helm_chart import CHART, HELM, _verify, helm, keyed, template
from tests.prerequisites import require

NOW = "2030-01-01T00:00:00Z"
VALIDITY_DAYS = 365
RENEW_BEFORE_DAYS = 30
NOT_AFTER = "netweave.io/not-after"
PROBE = """\
{{- $tls := include "netweave.selfGeneratedTLS" (dict "secret" (.Values.secret | default dict) "now" (toDate "2006-01-02T15:04:05Z07:00" .Values.now) "validityDays" (int .Values.validityDays) "renewBeforeDays" (int .Values.renewBeforeDays) "namespace" "netweave-system") | fromYaml }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: tls
data: {{ $tls | toJson }}
"""  # noqa: E501 -- one template action


@pytest.fixture(autouse=True)
def _helm_installed() -> None:
    require(None if HELM else "helm not found: `make helm` installs it into .cache/helm")


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chart whose only template calls the helper, with the chart's own _helpers.tpl copied in."""
    root = tmp_path_factory.mktemp("tls-probe")
    (root / "templates").mkdir()
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: tls-probe\nversion: 0.1.0\n")
    shutil.copy(CHART / "templates" / "_helpers.tpl", root / "templates" / "_helpers.tpl")
    (root / "templates" / "probe.yaml").write_text(PROBE)
    return root


def _tls(probe: Path, secret: dict[str, Any] | None) -> dict[str, str]:
    done = helm("template", "probe", str(probe), "--set-json", f"secret={json.dumps(secret or {})}",
                "--set-string", f"now={NOW}", "--set", f"validityDays={VALIDITY_DAYS}",
                "--set", f"renewBeforeDays={RENEW_BEFORE_DAYS}")
    assert done.returncode == 0, done.stderr
    [config] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    data: dict[str, str] = config["data"]
    return data


@pytest.fixture(scope="module")
def fresh(probe: Path) -> dict[str, str]:
    return _tls(probe, None)


def _secret(fresh: dict[str, str], not_after: str | None, **data: str) -> dict[str, Any]:
    """The Secret a previous release left, holding the fresh render's certificate."""
    metadata = {"annotations": {NOT_AFTER: not_after}} if not_after is not None else {}
    return {"metadata": metadata,
            "data": {"tls.crt": fresh["crt"], "tls.key": fresh["key"], "ca.crt": fresh["ca"], **data}}


def _certificates(b64: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(base64.b64decode(b64))


def test_a_fresh_certificate_records_its_expiry_validity_days_ahead(fresh: dict[str, str]) -> None:
    tls = fresh
    assert tls["notAfter"] == "2031-01-01T00:00:00Z"  # NOW + 365 days (2030 has 365)
    assert tls["caBundle"] == tls["ca"]
    [ca], [serving] = _certificates(tls["ca"]), _certificates(tls["crt"])
    _verify(ca, serving)


@pytest.mark.parametrize(
    ("not_after", "reused"),
    [
        pytest.param("2030-03-01T00:00:00Z", True, id="59-days-left-reused"),
        pytest.param("2030-01-31T00:00:01Z", True, id="a-second-more-than-renew-before-reused"),
        pytest.param("2030-01-01T02:00:00+02:00", False, id="expiring-now-in-another-zone-renewed"),
        pytest.param("2030-01-31T00:00:00Z", False, id="exactly-renew-before-days-left-renewed"),
        pytest.param("2030-01-20T00:00:00Z", False, id="19-days-left-renewed"),
        pytest.param("2029-06-01T00:00:00Z", False, id="expired-renewed"),
        pytest.param(None, False, id="no-recorded-expiry-renewed"),
        pytest.param("next year", False, id="unreadable-expiry-renewed"),
        pytest.param("", False, id="empty-expiry-renewed"),
    ],
)
def test_an_existing_certificate_is_reused_until_renew_before_days_of_its_expiry(
        probe: Path, fresh: dict[str, str], not_after: str | None, reused: bool) -> None:
    old = _secret(fresh, not_after)
    tls = _tls(probe, old)
    if reused:
        assert (tls["crt"], tls["key"], tls["ca"], tls["caBundle"], tls["notAfter"]) == (
            old["data"]["tls.crt"], old["data"]["tls.key"], old["data"]["ca.crt"], old["data"]["ca.crt"], not_after)
        return
    assert tls["notAfter"] == "2031-01-01T00:00:00Z"
    assert tls["ca"] != old["data"]["ca.crt"] and tls["crt"] != old["data"]["tls.crt"]
    [new_ca], [serving] = _certificates(tls["ca"]), _certificates(tls["crt"])
    _verify(new_ca, serving)
    # Until the kubelet updates the mounted Secret, pods serve the old certificate: the bundle trusts both CAs.
    assert _certificates(tls["caBundle"]) == [new_ca, *_certificates(old["data"]["ca.crt"])]


@pytest.mark.parametrize(
    ("not_after", "data", "bundle"),
    [
        pytest.param("2030-06-01T00:00:00Z", {"tls.key": ""}, 2, id="no-key-renewed-trusting-the-old-ca"),
        pytest.param(None, {"ca.crt": base64.b64encode(b"not a certificate").decode()}, 1,
                     id="unreadable-old-ca-left-out-of-the-bundle"),
        pytest.param("2030-06-01T00:00:00Z", {"ca.crt": ""}, 1, id="no-ca-renewed"),
    ],
)
def test_an_incomplete_secret_is_replaced(probe: Path, fresh: dict[str, str], not_after: str | None,
                                         data: dict[str, str], bundle: int) -> None:
    tls = _tls(probe, _secret(fresh, not_after, **data))
    assert tls["ca"] != fresh["ca"]
    assert len(_certificates(tls["caBundle"])) == bundle


def test_the_chart_records_the_served_certificate_s_expiry_on_the_secret() -> None:
    objects = keyed(template("self-generated"))
    secret = objects[("Secret", "netweave-webhook-tls")]
    recorded = datetime.datetime.fromisoformat(secret["metadata"]["annotations"][NOT_AFTER])
    serving = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    assert recorded.tzinfo is not None
    assert abs((recorded - serving.not_valid_after_utc).total_seconds()) <= 60
    ahead = recorded - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=VALIDITY_DAYS - 1) <= ahead <= datetime.timedelta(days=VALIDITY_DAYS + 1)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert {hook["clientConfig"]["caBundle"] for hook in objects[(kind, "netweave")]["webhooks"]} == {
            secret["data"]["ca.crt"]}
