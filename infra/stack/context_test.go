package stack_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/contentful/auditlogs/infra/stack"
)

func TestPropsFromContext(t *testing.T) {
	ctx := map[string]interface{}{
		stack.CtxStage: "prod", stack.CtxSchedule: "rate(12 hours)", stack.CtxAlarmEmail: "ops@example.com",
		stack.CtxCompactionSchedule:        "cron(40 0 * * ? *)",
		stack.CtxExportReservedConcurrency: "20", // -c key=value passes strings
		stack.CtxRetryMaxConcurrency:       "4",
		stack.CtxLogStoreRetentionDays:     float64(40),
		stack.CtxKeyAdminArns:              "arn:aws:iam::1:role/a, arn:aws:iam::1:role/b",
		stack.CtxKeyOperatorArns:           []interface{}{"arn:aws:iam::1:role/ops"},
		stack.CtxIngestIncludePOST:         "true",
	}
	p, err := stack.PropsFromValues(func(k string) interface{} { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	p = p.Defaults()
	if p.StageName != "prod" || p.ScheduleExpression != "rate(12 hours)" || p.CompactionSchedule != "cron(40 0 * * ? *)" || p.AlarmEmail != "ops@example.com" ||
		p.ExportReservedConcurrency != 20 || p.RetryMaxConcurrency != 4 || p.LogStoreRetentionDays != 40 || p.FanOutConcurrency != 16 ||
		p.CodeDir != stack.DefaultCodeDir || !reflect.DeepEqual(p.KeyAdminArns, []string{"arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"}) ||
		!reflect.DeepEqual(p.KeyOperatorArns, []string{"arn:aws:iam::1:role/ops"}) || !p.IngestIncludePOST {
		t.Errorf("props %+v", p)
	}
	if _, err := stack.PropsFromValues(func(k string) interface{} {
		if k == stack.CtxExportReservedConcurrency {
			return "lots"
		}
		return nil
	}); err == nil {
		t.Error("a malformed number was accepted")
	}
	if _, err := stack.PropsFromValues(func(k string) interface{} {
		if k == stack.CtxIngestIncludePOST {
			return "yes please"
		}
		return nil
	}); err == nil || !strings.Contains(err.Error(), stack.CtxIngestIncludePOST) {
		t.Errorf("a malformed %s: %v", stack.CtxIngestIncludePOST, err)
	}

	// cdk.json's context gives the same props as the defaults.
	cc := cdkContext(t)
	p, err = stack.PropsFromValues(func(k string) interface{} { return cc[k] })
	if err != nil {
		t.Fatal(err)
	}
	p.StackProps = awscdk.StackProps{}
	if want := (stack.StackProps{CodeDir: stack.DefaultCodeDir}).Defaults(); !reflect.DeepEqual(p.Defaults(), want) {
		t.Errorf("cdk.json context gives %+v, want the defaults %+v", p, want)
	}
}
