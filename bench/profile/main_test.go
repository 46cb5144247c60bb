package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareOutRefusesAFolderItDidNotCreate(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "results.parquet")
	if err := os.WriteFile(precious, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := prepareOut(dir)
	if err == nil || !strings.Contains(err.Error(), "not created by bench/profile") {
		t.Errorf("non-empty folder: got %v", err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Errorf("a refused folder lost its files: %v", err)
	}
}

func TestPrepareOutEmptiesOnlyItsOwnFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "profile")
	if err := prepareOut(dir); err != nil {
		t.Fatalf("missing folder: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sweep", "runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := prepareOut(dir); err != nil {
		t.Fatalf("its own folder: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != marker {
		t.Errorf("its own folder after a second run holds %v, want only %s", entries, marker)
	}
	empty := t.TempDir()
	if err := prepareOut(empty); err != nil {
		t.Errorf("an empty folder: %v", err)
	}
}
