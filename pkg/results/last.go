package results

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// lastEpoch keeps, of each run, the rows of its highest epoch; rows keep their order.
func lastEpoch[T any](rows []T, key func(*T) (runID string, epoch int32)) []T {
	last := map[string]int32{}
	for i := range rows {
		id, e := key(&rows[i])
		if l, ok := last[id]; !ok || e > l {
			last[id] = e
		}
	}
	return slices.DeleteFunc(rows, func(r T) bool {
		id, e := key(&r)
		return e != last[id]
	})
}

// Label names a run by its swept values, "weight=0.001, target=0.05", each parameter
// by the shortest end of its path that no other parameter of the run shares
// (regularizers.0.weight and regularizers.1.weight become 0.weight and 1.weight),
// in the order of their full paths; "-" for a run of a spec that sweeps nothing.
func (r Run) Label() string {
	paths := Runs{r}.ParamNames()
	if len(paths) == 0 {
		return "-"
	}
	parts := make([]string, len(paths))
	for i, p := range paths {
		parts[i] = shortestUniqueSuffix(p, paths) + "=" + formatParam(r.Params[p])
	}
	return strings.Join(parts, ", ")
}

// shortestUniqueSuffix is the fewest trailing dot-separated elements of path that end
// no other of paths.
func shortestUniqueSuffix(path string, paths []string) string {
	elems := strings.Split(path, ".")
	for n := 1; n < len(elems); n++ {
		suffix := strings.Join(elems[len(elems)-n:], ".")
		shared := slices.ContainsFunc(paths, func(q string) bool {
			return q != path && (q == suffix || strings.HasSuffix(q, "."+suffix))
		})
		if !shared {
			return suffix
		}
	}
	return path
}

func formatParam(v any) string {
	if x, ok := v.(float64); ok {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
