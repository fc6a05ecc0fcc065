package stack_test

import (
	"testing"
	"time"

	"github.com/aws/constructs-go/constructs/v10"

	"github.com/contentful/auditlogs/internal/retryschedule"
)

func TestQueues(t *testing.T) {
	s := defaults(t)
	queues := s.resources("AWS::SQS::Queue")
	if len(queues) != 6 {
		t.Errorf("%d queues, want 6", len(queues))
	}
	// Every queue is encrypted and has a policy denying plain HTTP.
	tlsOnly := map[string]bool{}
	for _, qp := range s.resources("AWS::SQS::QueuePolicy") {
		for _, st := range statements(prop(qp, "Properties", "PolicyDocument")) {
			if deniesPlainHTTP(st) {
				for _, q := range list(prop(qp, "Properties", "Queues")) {
					tlsOnly[q] = true
				}
			}
		}
	}
	for id, q := range queues {
		p := q["Properties"].(map[string]interface{})
		if p["SqsManagedSseEnabled"] != true && p["KmsMasterKeyId"] == nil {
			t.Errorf("queue %s is not encrypted", id)
		}
		if !tlsOnly["${Ref:"+id+"}"] {
			t.Errorf("queue %s: no policy denying aws:SecureTransport false", id)
		}
		if p["MessageRetentionPeriod"] != float64(14*24*3600) {
			t.Errorf("queue %s: retention %v, want 14 days", id, p["MessageRetentionPeriod"])
		}
	}
	// Every failure queue has its own dead-letter queue; the retry queue's
	// maxReceiveCount is the retry schedule's (docs/reliability.md).
	for _, c := range []struct {
		queue, dlq  constructs.IConstruct
		maxReceives float64
	}{
		{s.st.ExportFailures, s.st.ExportFailuresDLQ, float64(retryschedule.Default.Receives)},
		{s.st.FanOutFailures, s.st.FanOutFailuresDLQ, 5},
	} {
		q := s.resource(t, s.id(t, c.queue))
		rp, _ := prop(q, "Properties", "RedrivePolicy").(map[string]interface{})
		if render(rp["deadLetterTargetArn"]) != "${"+s.id(t, c.dlq)+".Arn}" || rp["maxReceiveCount"] != c.maxReceives {
			t.Errorf("%s: redrive policy %v, want its DLQ %s after %v receives", s.id(t, c.queue), rp, s.id(t, c.dlq), c.maxReceives)
		}
	}
	// Lambda requires a visibility timeout of at least the function's
	// timeout on an SQS event source.
	retryQ := s.resource(t, s.id(t, s.st.ExportFailures))
	if v, _ := prop(retryQ, "Properties", "VisibilityTimeout").(float64); v < 900 {
		t.Errorf("retry queue visibility timeout %v, want at least the retry function's 900 s", v)
	}
	// The retry schedule (docs/reliability.md) spans at least 7 days and
	// fits in the retry queue's retention, however long each receive
	// lasts, up to the retry function's timeout.
	timeout, _ := prop(s.resource(t, s.id(t, s.st.Retry)), "Properties", "Timeout").(float64)
	r, _ := prop(retryQ, "Properties", "MessageRetentionPeriod").(float64)
	retention := time.Duration(r) * time.Second
	for elapsed := time.Duration(0); elapsed <= time.Duration(timeout)*time.Second; elapsed += time.Minute {
		sched := retryschedule.Default
		if span, life := sched.Span(elapsed), sched.Lifetime(elapsed)+time.Duration(sched.Receives)*sched.Margin; span < 7*24*time.Hour || life >= retention {
			t.Errorf("receives of %s: the retries span %s, a message lives %s in the queue (its receives' margins included), which keeps it %s: want a span of 7 days or more inside the retention",
				elapsed, span, life, retention)
		}
	}
}
