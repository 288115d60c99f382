"""`netweave lint`: honoured suppressions reach SARIF as suppressions, refused ones are warnings."""

from __future__ import annotations

import json
from pathlib import Path

from webhook.lint import Options, lint, rule_infos
from webhook.manifests import read_paths
from webhook.report import format_sarif

MANIFESTS = """\
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: plain, namespace: default}
spec: {config: '{"cniVersion": "1.0.0", "type": "ptp"}'}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        k8s.v1.cni.cncf.io/networks: '[{"name": "plain", "mac": "02:00:00:00:00:01"}]'
        ignore-check.netweave.io/capability-missing: "the MAC is only a hint"
        ignore-check.netweave.io/mac-address: "please"
    spec:
      containers: [{name: c, image: busybox}]
"""


def test_honoured_and_refused_suppressions_in_a_sarif_report(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(MANIFESTS)
    report = lint(read_paths([str(tmp_path / "web.yaml")]), options=Options())
    assert report.errors == 0
    [refused] = [e for e in report.findings if e.rule == "suppression-refused"]
    assert refused.severity == "warning" and 'rule "mac-address" protects the cluster' in refused.message
    assert refused.line == 17
    results = json.loads(format_sarif(report, rules=rule_infos()))["runs"][0]["results"]
    [quiet] = [r for r in results if "suppressions" in r]
    assert quiet["ruleId"] == "capability-missing"
    assert quiet["suppressions"] == [
        {"kind": "inSource", "status": "accepted", "justification": "the MAC is only a hint"}]
