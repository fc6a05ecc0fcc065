package stack

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Context keys PropsFromContext reads (cdk.json's "context", or
// `cdk deploy -c key=value`). Unset keys keep StackProps' defaults.
const (
	CtxStage                     = "stage"
	CtxSchedule                  = "schedule"
	CtxCompactionSchedule        = "compactionSchedule"
	CtxLogStoreRetentionDays     = "logStoreRetentionDays"
	CtxAlarmEmail                = "alarmEmail"
	CtxExportReservedConcurrency = "exportReservedConcurrency"
	CtxRetryMaxConcurrency       = "retryMaxConcurrency"
	CtxFanOutConcurrency         = "fanOutConcurrency"
	CtxCodeDir                   = "codeDir"
	CtxKeyAdminArns              = "keyAdminArns"
	CtxKeyOperatorArns           = "keyOperatorArns"
	CtxLogRetentionDays          = "logRetentionDays"
	CtxIngestIncludePOST         = "ingestIncludePost"
	CtxAPIIssuer                 = "apiIssuer"
	CtxAPIAudience               = "apiAudience"
	CtxAPIJWKSURL                = "apiJwksUrl"
	CtxAPICorsOrigins            = "apiCorsOrigins"
)

// PropsFromContext reads StackProps from node's context. Values may be
// strings (as `-c key=value` passes them) or JSON numbers (cdk.json);
// keyAdminArns, keyOperatorArns and apiCorsOrigins are comma-separated
// strings or JSON lists.
func PropsFromContext(node constructs.Node) (StackProps, error) {
	return PropsFromValues(func(key string) interface{} { return node.TryGetContext(jsii.String(key)) })
}

// PropsFromValues reads StackProps through get, which returns nil for an
// unset key.
func PropsFromValues(get func(key string) interface{}) (StackProps, error) {
	var p StackProps
	var err error
	str := func(key string, dst *string) {
		if v := get(key); v != nil && err == nil {
			s, ok := v.(string)
			if !ok {
				err = fmt.Errorf("context %s=%v: want a string", key, v)
				return
			}
			*dst = strings.TrimSpace(s)
		}
	}
	num := func(key string, dst *int) {
		v := get(key)
		if v == nil || err != nil {
			return
		}
		switch n := v.(type) {
		case float64:
			if n != float64(int(n)) {
				err = fmt.Errorf("context %s=%v: want a whole number", key, v)
				return
			}
			*dst = int(n)
		case string:
			if strings.TrimSpace(n) == "" {
				return
			}
			i, e := strconv.Atoi(strings.TrimSpace(n))
			if e != nil {
				err = fmt.Errorf("context %s=%q: want a whole number", key, n)
				return
			}
			*dst = i
		default:
			err = fmt.Errorf("context %s=%v: want a whole number", key, v)
		}
	}
	str(CtxStage, &p.StageName)
	str(CtxSchedule, &p.ScheduleExpression)
	str(CtxCompactionSchedule, &p.CompactionSchedule)
	str(CtxAlarmEmail, &p.AlarmEmail)
	str(CtxCodeDir, &p.CodeDir)
	str(CtxAPIIssuer, &p.APIIssuer)
	str(CtxAPIAudience, &p.APIAudience)
	str(CtxAPIJWKSURL, &p.APIJWKSURL)
	num(CtxLogStoreRetentionDays, &p.LogStoreRetentionDays)
	num(CtxExportReservedConcurrency, &p.ExportReservedConcurrency)
	num(CtxRetryMaxConcurrency, &p.RetryMaxConcurrency)
	num(CtxFanOutConcurrency, &p.FanOutConcurrency)
	num(CtxLogRetentionDays, &p.LogRetentionDays)
	switch v := get(CtxIngestIncludePOST).(type) {
	case nil:
	case bool:
		p.IngestIncludePOST = v
	case string:
		b, e := strconv.ParseBool(strings.TrimSpace(v))
		if e != nil && err == nil {
			err = fmt.Errorf("context %s=%q: want true or false", CtxIngestIncludePOST, v)
		}
		p.IngestIncludePOST = b
	default:
		if err == nil {
			err = fmt.Errorf("context %s=%v: want true or false", CtxIngestIncludePOST, v)
		}
	}
	if err != nil {
		return p, err
	}
	for key, dst := range map[string]*[]string{CtxKeyAdminArns: &p.KeyAdminArns, CtxKeyOperatorArns: &p.KeyOperatorArns, CtxAPICorsOrigins: &p.APICorsOrigins} {
		if *dst, err = stringList(key, get(key)); err != nil {
			return p, err
		}
	}
	if p.CodeDir == "" {
		p.CodeDir = DefaultCodeDir
	}
	return p, nil
}

// stringList reads a list of ARNs or origins: a comma-separated string
// (`-c key=a,b`) or a JSON list (cdk.json).
func stringList(key string, v interface{}) ([]string, error) {
	var out []string
	switch v := v.(type) {
	case nil:
	case string:
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
	case []interface{}:
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("context %s: want a list of strings", key)
			}
			out = append(out, s)
		}
	default:
		return nil, fmt.Errorf("context %s=%v: want a comma-separated list", key, v)
	}
	return out, nil
}
