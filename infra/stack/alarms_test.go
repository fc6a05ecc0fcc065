package stack_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/constructs-go/constructs/v10"

	"github.com/contentful/auditlogs/internal/metrics"
)

// deadLetterQueues are the template's dead-letter queues: those a redrive
// policy or an EventBridge target names.
func deadLetterQueues(s *synthesized) map[string]bool {
	dlqs := map[string]bool{}
	for _, q := range s.resources("AWS::SQS::Queue") {
		if rp, ok := prop(q, "Properties", "RedrivePolicy").(map[string]interface{}); ok {
			dlqs[render(rp["deadLetterTargetArn"])] = true
		}
	}
	for _, r := range s.resources("AWS::Events::Rule") {
		for _, tg := range list2(prop(r, "Properties", "Targets")) {
			if d := prop(tg.(map[string]interface{}), "DeadLetterConfig", "Arn"); d != nil {
				dlqs[render(d)] = true
			}
		}
	}
	return dlqs
}

func TestAlarms(t *testing.T) {
	s := defaults(t)
	topic := "${Ref:" + s.id(t, s.st.AlarmTopic) + "}"
	// Queue name (a GetAtt of the queue) or function name => metric names alarmed.
	alarmed := map[string]map[string]bool{}
	for id, a := range s.resources("AWS::CloudWatch::Alarm") {
		p := a["Properties"].(map[string]interface{})
		if !reflect.DeepEqual(list(p["AlarmActions"]), []string{topic}) {
			t.Errorf("alarm %s: actions %v, want the alarm topic", id, p["AlarmActions"])
		}
		want := float64(1)
		switch p["MetricName"] {
		case "IteratorAge": // milliseconds behind the stream
			want = float64((30 * time.Minute).Milliseconds())
		case "DeliveryToS3.DataFreshness": // seconds, the oldest record's age
			want = (30 * time.Minute).Seconds()
		}
		if p["Threshold"] != want || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("alarm %s: %v %v, want >= %v", id, p["ComparisonOperator"], p["Threshold"], want)
		}
		for _, d := range list2(p["Dimensions"]) {
			v := render(d.(map[string]interface{})["Value"])
			if alarmed[v] == nil {
				alarmed[v] = map[string]bool{}
			}
			alarmed[v][p["MetricName"].(string)] = true
		}
	}
	dlqs := deadLetterQueues(s)
	if len(dlqs) != 3 {
		t.Errorf("dead-letter queues %v, want 3", dlqs)
	}
	for arn := range dlqs {
		name := strings.Replace(arn, ".Arn}", ".QueueName}", 1)
		if !alarmed[name]["ApproximateNumberOfMessagesVisible"] {
			t.Errorf("dead-letter queue %s has no depth alarm", arn)
		}
	}
	for _, q := range []constructs.IConstruct{s.st.ExportFailures, s.st.FanOutFailures, s.st.IngestFailures} {
		if !alarmed["${"+s.id(t, q)+".QueueName}"]["ApproximateNumberOfMessagesVisible"] {
			t.Errorf("failure queue %s has no depth alarm", s.id(t, q))
		}
	}
	for fn, metrics := range map[constructs.IConstruct][]string{
		s.st.Export:  {"Errors", "DestinationDeliveryFailures"},
		s.st.FanOut:  {"Errors", "DestinationDeliveryFailures"},
		s.st.Retry:   {"Errors"},
		s.st.Ingest:  {"Errors", "IteratorAge"},
		s.st.Compact: {"Errors"},
	} {
		for _, m := range metrics {
			if !alarmed["${Ref:"+s.id(t, fn)+"}"][m] {
				t.Errorf("function %s has no %s alarm", s.id(t, fn), m)
			}
		}
	}
	// The lake: the state machine's failed, timed-out and aborted
	// executions; the Firehose stream's freshness, throttling and
	// partitions over its quota.
	sm := "${" + *s.st.GetLogicalId(s.st.StateMachine) + ".Arn}"
	for _, m := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} {
		if !alarmed[sm][m] {
			t.Errorf("the compaction state machine has no %s alarm", m)
		}
		has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
			"Namespace": "AWS/States", "MetricName": m, "Statistic": "Sum", "Threshold": 1, "EvaluationPeriods": 1,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
		})
	}
	stream := "${Ref:" + *s.st.GetLogicalId(s.st.RawStream) + "}"
	for m, st := range map[string]string{"DeliveryToS3.DataFreshness": "Maximum", "ThrottledRecords": "Sum", "PartitionCountExceeded": "Maximum"} {
		if !alarmed[stream][m] {
			t.Errorf("the Firehose stream has no %s alarm", m)
		}
		has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{"Namespace": "AWS/Firehose", "MetricName": m, "Statistic": st, "Period": 300})
	}
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": "AWS/Firehose", "MetricName": "DeliveryToS3.DataFreshness", "Threshold": 1800, "AlarmName": "auditlogs-dev-raw-stream-freshness",
	})
	for _, m := range []string{metrics.PermanentFailures, metrics.IngestRejected} {
		has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{"Namespace": metrics.Namespace, "MetricName": m})
	}
	// Near misses of the ingest (a path that matches a route only when
	// case is ignored): any in five minutes, summed.
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": metrics.Namespace, "MetricName": metrics.IngestSkippedNearMiss, "Statistic": "Sum", "Period": 300,
		"EvaluationPeriods": 1, "TreatMissingData": "notBreaching", "AlarmName": "auditlogs-dev-ingest-near-miss",
	})
	// The fan-out's daily count of SAS URLs expiring within 30 days: a
	// day's period, the day's highest count (several runs a day may each
	// emit it), and a day without a run keeping the state, so that the
	// alarm neither clears nor fires again every night.
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": metrics.Namespace, "MetricName": metrics.SASExpiringSoon,
		"Period": 86400, "Statistic": "Maximum", "EvaluationPeriods": 1, "TreatMissingData": "ignore",
		"AlarmName": "auditlogs-dev-sas-expiring-soon",
	})
	// The fan-out's daily count of registry items it skipped as invalid:
	// the same rhythm, raised until a run counts none.
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": metrics.Namespace, "MetricName": metrics.InvalidRegistryItems,
		"Period": 86400, "Statistic": "Maximum", "EvaluationPeriods": 1, "TreatMissingData": "ignore",
		"AlarmName": "auditlogs-dev-invalid-registry-items", "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
		"AlarmActions": []interface{}{map[string]interface{}{"Ref": s.id(t, s.st.AlarmTopic)}},
	})
	// The topic: TLS only, CloudWatch may publish, no subscription
	// without an alarm email.
	var sslOnly, cloudwatch bool
	for _, tp := range s.resources("AWS::SNS::TopicPolicy") {
		for _, st := range statements(prop(tp, "Properties", "PolicyDocument")) {
			if deniesPlainHTTP(st) {
				sslOnly = true
			}
			if st["Effect"] == "Allow" && render(prop(st, "Principal", "Service")) == "cloudwatch.amazonaws.com" {
				cloudwatch = true
			}
		}
	}
	if !sslOnly || !cloudwatch {
		t.Errorf("alarm topic policy: TLS only %v, CloudWatch may publish %v", sslOnly, cloudwatch)
	}
	if n := len(s.resources("AWS::SNS::Subscription")); n != 0 {
		t.Errorf("%d subscriptions without alarmEmail", n)
	}
}
