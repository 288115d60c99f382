"""Plugin invocation: CNI_PATH lookup, env, capabilities, prevResult chaining, reverse DEL, plugin errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cni import invoke
from cni.context import Context
from cni.errors import CniError

# Every call also appends "<plugin> <command>" to calls.log beside the plugins: one sequence log for the order.
RECORDER = """#!/bin/sh
echo "$(basename "$0") $CNI_COMMAND" >> "$(dirname "$0")/calls.log"
n=$(ls "$0".in.* 2>/dev/null | wc -l)
cat > "$0.in.$n"
env > "$0.env.$n"
printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"x"}],' "$CNI_IFNAME"
printf '"ips":[{"address":"10.0.0.%s/24","interface":0}]}' "$n"
"""
FAILING = """#!/bin/sh
echo '{"cniVersion":"1.0.0","code":7,"msg":"bad master","details":"eth9 not found"}'
exit 1
"""
SILENT_FAIL = "#!/bin/sh\necho oops >&2\nexit 2\n"


def plugin(tmp_path: Path, name: str, script: str) -> Path:
    path = tmp_path / name
    path.write_text(script)
    path.chmod(0o755)
    return path


def inputs(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.parent.glob(path.name + ".in.*"), key=lambda p: int(p.suffix[1:]))
    return [json.loads(p.read_text()) for p in files]


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def inv(tmp_path: Path) -> invoke.Invocation:
    return invoke.Invocation(container_id="c1", netns="/x", ifname="net1", args="IgnoreUnknown=1",
                             path=(str(tmp_path / "nowhere"), str(tmp_path)), os_path="/usr/bin:/bin")


def test_add_list_chains_prev_result_and_filters_runtime_config(tmp_path: Path) -> None:
    rec = plugin(tmp_path, "rec", RECORDER)
    plugins = [{"type": "rec", "name": "n", "cniVersion": "1.0.0", "capabilities": {"mac": True}},
               {"type": "rec", "name": "n", "cniVersion": "1.0.0", "capabilities": {"ips": True, "mac": False}}]
    result = invoke.add_list(Context(), plugins, inv(tmp_path), {"mac": "0a:00:00:00:00:01", "ips": ["1.2.3.4"]})
    first, second = inputs(rec)
    assert first["runtimeConfig"] == {"mac": "0a:00:00:00:00:01"} and "prevResult" not in first
    assert second["runtimeConfig"] == {"ips": ["1.2.3.4"]}
    assert second["prevResult"]["ips"] == [{"address": "10.0.0.0/24", "interface": 0}]
    assert result["ips"][0]["address"] == "10.0.0.1/24"
    env = dict(line.split("=", 1) for line in (tmp_path / "rec.env.0").read_text().splitlines() if "=" in line)
    assert (env["CNI_COMMAND"], env["CNI_IFNAME"], env["CNI_CONTAINERID"]) == ("ADD", "net1", "c1")


def test_del_runs_in_reverse_and_passes_prev_result_from_0_4_0(tmp_path: Path) -> None:
    plugin(tmp_path, "a", RECORDER)
    plugin(tmp_path, "b", RECORDER)
    cached = {"cniVersion": "1.0.0", "ips": []}
    invoke.del_list(Context(), [{"type": "a", "cniVersion": "0.3.1"}, {"type": "b", "cniVersion": "0.4.0"}],
                    inv(tmp_path), {}, cached)
    assert calls(tmp_path) == ["b DEL", "a DEL"]
    assert "prevResult" not in inputs(tmp_path / "a")[0]
    assert inputs(tmp_path / "b")[0]["prevResult"] == {"cniVersion": "0.4.0", "ips": []}


def test_a_failing_del_does_not_stop_the_plugins_before_it_and_is_raised_after_them(tmp_path: Path) -> None:
    rec = plugin(tmp_path, "a", RECORDER)
    plugin(tmp_path, "bad", FAILING)
    with pytest.raises(CniError) as caught:
        invoke.del_list(Context(), [{"type": "a", "cniVersion": "1.0.0"}, {"type": "bad", "cniVersion": "1.0.0"}],
                        inv(tmp_path), {}, None)
    assert (caught.value.code, caught.value.msg) == (7, "plugin bad: bad master")
    assert len(inputs(rec)) == 1


@pytest.mark.parametrize(("code", "expected"), [
    pytest.param(7, (7, "plugin bad: bad master", "eth9 not found"), id="invalid-config-kept"),
    pytest.param(11, (11, "plugin bad: bad master", "eth9 not found"), id="try-again-kept"),
    pytest.param(3, (3, "plugin bad: bad master", "eth9 not found"), id="unknown-container-kept"),
    pytest.param(50, (50, "plugin bad: bad master", "eth9 not found"), id="not-available-kept"),
    pytest.param(51, (51, "plugin bad: bad master", "eth9 not found"), id="limited-connectivity-kept"),
    pytest.param(117, (103, "plugin bad: bad master", "code 117: eth9 not found"), id="plugin-code-wrapped"),
])
def test_plugin_error_json_is_kept(tmp_path: Path, code: int, expected: tuple[int, str, str]) -> None:
    plugin(tmp_path, "bad", FAILING.replace('"code":7', f'"code":{code}'))
    with pytest.raises(CniError) as caught:
        invoke.run_plugin(Context(), "ADD", {"type": "bad"}, inv(tmp_path))
    assert (caught.value.code, caught.value.msg, caught.value.details) == expected


def test_plugin_without_error_json_reports_stderr(tmp_path: Path) -> None:
    plugin(tmp_path, "quiet", SILENT_FAIL)
    with pytest.raises(CniError, match="plugin quiet: oops") as caught:
        invoke.run_plugin(Context(), "ADD", {"type": "quiet"}, inv(tmp_path))
    assert caught.value.code == 103


@pytest.mark.parametrize("plugin_type", ["missing", "../bin/sh", ""])
def test_unknown_or_unsafe_plugin_types_are_not_run(tmp_path: Path, plugin_type: str) -> None:
    with pytest.raises(CniError):
        invoke.find_plugin(plugin_type, (str(tmp_path),))
