package spec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// SampleCount is a number of validation samples, or AllSamples (written "all"): the
// whole validation set, whatever its size.
type SampleCount int

// AllSamples is "all".
const AllSamples SampleCount = -1

// Of returns how many of n samples the count takes.
func (c SampleCount) Of(n int) int {
	if c == AllSamples {
		return n
	}
	return min(int(c), n)
}

// UnmarshalYAML reads a number or "all".
func (c *SampleCount) UnmarshalYAML(b []byte) error {
	text := strings.Trim(strings.TrimSpace(string(b)), `"'`)
	if text == "all" {
		*c = AllSamples
		return nil
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return fmt.Errorf("%q is not a number of samples or all", text)
	}
	*c = SampleCount(n)
	return nil
}

// MarshalYAML writes "all" or the number.
func (c SampleCount) MarshalYAML() (any, error) {
	if c == AllSamples {
		return "all", nil
	}
	return int(c), nil
}

// MarshalJSON writes "all" or the number (the resolved config in the runs table).
func (c SampleCount) MarshalJSON() ([]byte, error) {
	if c == AllSamples {
		return []byte(`"all"`), nil
	}
	return json.Marshal(int(c))
}

// UnmarshalJSON reads "all" or a number.
func (c *SampleCount) UnmarshalJSON(b []byte) error { return c.UnmarshalYAML(b) }
