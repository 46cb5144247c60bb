package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestShardAutoComesFromSlurmsArrayAndIsTheDefaultInsideOne(t *testing.T) {
	slurm := map[string]string{"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_MAX": "13", "SLURM_ARRAY_TASK_COUNT": "4"}
	for _, flag := range []string{"auto", ""} {
		i, n, from, err := parseShard(flag, env(slurm))
		if err != nil || i != 2 || n != 4 || !strings.Contains(from, "SLURM_ARRAY_TASK_ID=12") {
			t.Errorf("--shard %q: %d/%d %q %v, want 2/4 from Slurm", flag, i, n, from, err)
		}
	}
	// An explicit i/n wins over the environment.
	if i, n, _, err := parseShard("1/3", env(slurm)); err != nil || i != 1 || n != 3 {
		t.Errorf("--shard 1/3 in an array task: %d/%d %v", i, n, err)
	}
	// Outside Slurm, no flag means every run.
	if i, n, _, err := parseShard("", env(nil)); err != nil || i != 0 || n != 1 {
		t.Errorf("no --shard: %d/%d %v", i, n, err)
	}
}

func TestShardAutoRefusesWhatItCannotMapOneToOne(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"no Slurm":                 nil,
		"stepped":                  {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "6", "SLURM_ARRAY_TASK_COUNT": "4"},
		"not a number":             {"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "4"},
		"k8s index past the count": {"JOB_COMPLETION_INDEX": "4", "SAERUN_SHARDS": "4"},
		"k8s without the count":    {"JOB_COMPLETION_INDEX": "1"},
	} {
		if _, _, _, err := parseShard("auto", env(e)); err == nil {
			t.Errorf("%s: --shard auto accepted %v", name, e)
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "1/0", "1/2x", "a/b"} {
		if _, _, _, err := parseShard(bad, env(nil)); err == nil {
			t.Errorf("--shard %q accepted", bad)
		}
	}
	if i, n, _, err := parseShard("auto", env(map[string]string{"JOB_COMPLETION_INDEX": "3", "SAERUN_SHARDS": "4"})); err != nil || i != 3 || n != 4 {
		t.Errorf("Kubernetes index: %d/%d %v", i, n, err)
	}
}

// The printed submit script is valid bash, and its jobs run each shard with --resume
// and then compact and report, with every path absolute and quoted.
func TestSlurmScriptsRunShardsWithResumeThenCompactAndReport(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sae run") // a space, to check the quoting
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := newClusterJob("quickstart.yaml", 4, bin, "out dir", []string{"--backend", "go"}, []string{"train.epochs=2"})
	if err != nil {
		t.Fatal(err)
	}
	array, finish := slurmScripts(j, slurmOptions{Partition: "gpu", Time: "1:00:00", GPUsPerTask: 1, Logs: "/logs", Report: true})
	for _, want := range []string{"#SBATCH --array=0-3\n", "#SBATCH --requeue\n", "#SBATCH --partition=gpu\n",
		"#SBATCH --time=1:00:00\n", "#SBATCH --gpus-per-task=1\n", "--resume --shard auto --backend go "} {
		if !strings.Contains(array, want) {
			t.Errorf("array script lacks %q:\n%s", want, array)
		}
	}
	if !strings.Contains(array, "exec '"+bin+"' --out '"+j.Out+"'") || !filepath.IsAbs(j.Out) || !strings.HasSuffix(j.Out, "out dir") {
		t.Errorf("array script does not exec the quoted absolute binary and --out:\n%s", array)
	}
	compact := strings.Index(finish, shellJoin([]string{bin, "compact", j.SweepDir()}))
	report := strings.Index(finish, shellJoin([]string{bin, "report", j.SweepDir()}))
	if compact < 0 || report < compact {
		t.Errorf("finish script does not compact then report:\n%s", finish)
	}
	script := filepath.Join(t.TempDir(), "submit.sh")
	if err := os.WriteFile(script, []byte(slurmSubmitScript(array, finish, "/logs")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
	if _, err := newClusterJob("quickstart.yaml", 19, bin, "out", nil, nil); err == nil || !strings.Contains(err.Error(), "18 runs") {
		t.Errorf("19 tasks for 18 runs: %v", err)
	}
}

func TestKubernetesNamesAreDNSLabels(t *testing.T) {
	for in, want := range map[string]string{
		"saerun-quickstart-kl":              "saerun-quickstart-kl",
		"saerun-My_Sweep.v2":                "saerun-my-sweep-v2",
		"saerun-" + strings.Repeat("x", 80): "saerun-" + strings.Repeat("x", 45),
	} {
		if got := kubeName(in); got != want {
			t.Errorf("kubeName(%q) = %q, want %q", in, got, want)
		}
	}
}
