// Package metrics writes CloudWatch metrics in the embedded metric format
// (EMF): one JSON line on a Lambda function's standard output, which
// CloudWatch Logs turns into metrics, without an API call (and its latency,
// permissions and failures) on the function's path. It also names every
// metric the functions write (names.go), the constants the functions count
// with and the CDK stack alarms on.
//
// It is a leaf: it imports nothing of this module, so that the stack
// (infra/stack) can name the functions' metrics without importing the
// functions' packages (internal/*fn).
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
)

// Namespace of the service's CloudWatch metrics.
const Namespace = "AuditLogs"

// Write writes one EMF line to w: each of counts becomes a metric of unit
// Count in Namespace, without dimensions (the alarms watch the totals);
// props are written alongside as properties, which Logs Insights can
// search but which are not dimensions.
func Write(w io.Writer, now time.Time, counts map[string]int64, props map[string]any) error {
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	slices.Sort(names)
	defs := make([]map[string]string, len(names))
	line := make(map[string]any, len(props)+len(counts)+1)
	for k, v := range props {
		line[k] = v
	}
	for i, name := range names {
		defs[i] = map[string]string{"Name": name, "Unit": "Count"}
		line[name] = counts[name]
	}
	line["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace": Namespace, "Dimensions": [][]string{{}}, "Metrics": defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("metrics: write: %w", err)
	}
	return nil
}
