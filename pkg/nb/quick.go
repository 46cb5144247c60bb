package nb

import (
	"fmt"
	"os"
	"path/filepath"
)

// The switch between full and shortened runs, and where shortened results go
// (scripts/notebooks.sh and CI set it to 1; scripts/reproduce.sh to 0).
//
// SAERUN_SEEDS_QUICK unset or "0" runs the specs as written; "1" shortens them (the
// seeds with QuickSet, other notebooks with the overrides they give IfQuick) and keeps
// their results apart, under SeedsRoot. SAERUN_SEEDS_RESULTS moves the seed notebooks'
// results root.
const (
	QuickEnv   = "SAERUN_SEEDS_QUICK"
	ResultsEnv = "SAERUN_SEEDS_RESULTS"
)

// QuickSet are the overrides (--set) of a shortened seed run: 2 epochs on 2048
// training and 1000 validation samples.
var QuickSet = []string{"train.epochs=2", "dataset.max_train_samples=2048", "dataset.max_validation_samples=1000"}

// Quick reads the switch: false when unset, empty or "0", true for "1"; it panics on
// any other value, naming the variable and its values.
func Quick() bool { return Must(quick()) }

func quick() (bool, error) {
	switch v := os.Getenv(QuickEnv); v {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("nb: %s=%q: want 1 (shortened runs) or 0 / unset (full runs)", QuickEnv, v)
	}
}

// IfQuick returns set when the switch is on, else nothing: a notebook's own shortening.
func IfQuick(set ...string) []string {
	if Quick() {
		return set
	}
	return nil
}

// Mode names the switch's state: "full length" or "SHORTENED (SAERUN_SEEDS_QUICK=1)".
func Mode() string {
	if Quick() {
		return fmt.Sprintf("SHORTENED (%s=1)", QuickEnv)
	}
	return "full length"
}

// SeedsRoot is the results root of the seed notebooks: $SAERUN_SEEDS_RESULTS, else
// results/seeds (full; the folder scripts/reproduce.sh fills) or results/seeds-quick
// (shortened) in the checkout.
func SeedsRoot() string {
	if d := os.Getenv(ResultsEnv); d != "" {
		return d
	}
	return seedsRoot(Root(), Quick())
}

func seedsRoot(root string, quick bool) string {
	if quick {
		return filepath.Join(root, "results", "seeds-quick")
	}
	return filepath.Join(root, "results", "seeds")
}

// Out is the results root of a notebook's own sweeps: results/<name> in the checkout,
// or with the switch on <SeedsRoot>/<name>, so that shortened runs never mix with
// full ones.
func Out(name string) string {
	if Quick() {
		return filepath.Join(SeedsRoot(), name)
	}
	return filepath.Join(Root(), "results", name)
}
