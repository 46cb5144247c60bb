"""The kubernetes verb's manifest is valid against the Kubernetes API schema.

kubernetes-validate (pinned in scripts/requirements.txt) bundles the JSON schemas of the
Kubernetes OpenAPI definitions, one set per Kubernetes version, and validates offline:
no cluster is needed. Strict mode refuses fields the schema does not define.
"""
import subprocess
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "quickstart.yaml"
K8S_VERSION = "1.37.0"


@pytest.fixture(scope="module")
def manifest():
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "saerun"
        subprocess.run(["go", "build", "-o", str(binary), "./experiments"], cwd=ROOT, check=True)
        out = subprocess.run(
            [str(binary), "kubernetes", str(SPEC), "--tasks", "4", "--image", "registry.example.org/saerun:1",
             "--claim", "saerun-results", "--gpus-per-task", "1", "--cpus-per-task", "2", "--mem", "8Gi",
             "--backend", "xla:/opt/cuda/pjrt_c_api_gpu_plugin.so", "--set", "train.epochs=2", "--parallelism", "2"],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    return {d["kind"]: d for d in docs}


def test_every_document_validates_strictly_against_the_kubernetes_schema(manifest):
    assert set(manifest) == {"ConfigMap", "Job"}
    for doc in manifest.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_refuses_a_field_the_schema_lacks(manifest):
    import copy
    bad = copy.deepcopy(manifest["Job"])
    bad["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_the_job_is_indexed_and_each_pod_runs_its_shard_with_resume(manifest):
    job, cm = manifest["Job"], manifest["ConfigMap"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == 4 and spec["parallelism"] == 2
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    c = pod["containers"][0]
    args = c["args"]
    assert args[args.index("--shard") + 1] == "auto" and "--resume" in args
    assert args[-1] == "/etc/saerun/quickstart.yaml"
    assert {"name": "SAERUN_SHARDS", "value": "4"} in c["env"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # The spec travels in the ConfigMap, as written.
    assert cm["data"]["quickstart.yaml"] == SPEC.read_text()
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["spec"]["configMap"]["name"] == cm["metadata"]["name"]
    assert volumes["results"]["persistentVolumeClaim"]["claimName"] == "saerun-results"


HOSTILE_DATA_DIR = "/data/</script> $(touch x) `id` #c {{.x}}\n- key: value\r\n---"


@pytest.mark.parametrize("lead", ["  \n", "\r\n"], ids=["blank-line-of-spaces", "crlf"])
def test_a_hostile_spec_file_and_flags_read_back_in_another_yaml_parser(tmp_path, lead):
    """A spec whose first line holds only spaces, or whose lines end in CRLF, in a file
    whose name has spaces, and a --data-dir full of YAML and shell syntax: PyYAML (not
    the library that wrote it) reads the manifest back to the same values, the ConfigMap
    key is valid, and the documents still validate strictly."""
    text = lead + SPEC.read_text().replace("\n", lead[-2:] if lead == "\r\n" else "\n")
    spec = tmp_path / "my sweep #1.yaml"
    spec.write_bytes(text.encode())
    binary = tmp_path / "saerun"
    subprocess.run(["go", "build", "-o", str(binary), "./experiments"], cwd=ROOT, check=True)
    out = subprocess.run([str(binary), "kubernetes", str(spec), "--tasks", "2", "--image", "registry.example.org/saerun:1",
                          "--claim", "saerun-results", "--mount", "/results dir", "--data-dir", HOSTILE_DATA_DIR],
                         cwd=ROOT, check=True, capture_output=True).stdout.decode()
    docs = {d["kind"]: d for d in yaml.safe_load_all(out) if d is not None}
    assert set(docs) == {"ConfigMap", "Job"}
    for doc in docs.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert docs["ConfigMap"]["data"] == {"my_sweep__1.yaml": text}
    args = docs["Job"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--data-dir") + 1] == HOSTILE_DATA_DIR
    assert args[args.index("--out") + 1] == "/results dir" and args[-1] == "/etc/saerun/my_sweep__1.yaml"
