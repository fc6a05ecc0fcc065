package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestWrite: the line is what CloudWatch's embedded metric format wants:
// one JSON object, the _aws directive naming each metric of the line, and
// the values and properties at the top level.
func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	now := time.UnixMilli(1764000000123)
	if err := Write(&buf, now, map[string]int64{"IngestStored": 7, "IngestRejected": 2}, map[string]any{"shard": "shardId-1"}); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want one line: %q", buf.String())
	}
	var got struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Stored   int64  `json:"IngestStored"`
		Rejected int64  `json:"IngestRejected"`
		Shard    string `json:"shard"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	d := got.AWS.CloudWatchMetrics
	if got.AWS.Timestamp != now.UnixMilli() || len(d) != 1 || d[0].Namespace != Namespace || len(d[0].Dimensions) != 1 || len(d[0].Dimensions[0]) != 0 ||
		len(d[0].Metrics) != 2 || d[0].Metrics[0].Name != "IngestRejected" || d[0].Metrics[1].Name != "IngestStored" || d[0].Metrics[0].Unit != "Count" ||
		got.Stored != 7 || got.Rejected != 2 || got.Shard != "shardId-1" {
		t.Fatalf("line %s decodes to %+v", buf.String(), got)
	}
}
