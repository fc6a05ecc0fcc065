package stack_test

import (
	"testing"

	"github.com/contentful/auditlogs/internal/sas"
)

func TestOutputs(t *testing.T) {
	s := defaults(t)
	outputs, _ := s.json["Outputs"].(map[string]interface{})
	want := map[string]string{
		"CustomerTrustAccountId":    "${Ref:AWS::AccountId}",
		"LakeBucketName":            "${Ref:" + s.id(t, s.st.LakeBucket) + "}",
		"LakeStreamName":            "${Ref:" + *s.st.GetLogicalId(s.st.RawStream) + "}",
		"CompactionStateMachineArn": "${" + *s.st.GetLogicalId(s.st.StateMachine) + ".Arn}",
		"CompactFunctionName":       "${Ref:" + s.id(t, s.st.Compact) + "}",
		"GlueDatabaseName":          "${Ref:" + *s.st.GetLogicalId(s.st.GlueDatabase) + "}",
		"AthenaWorkGroupName":       "${Ref:" + *s.st.GetLogicalId(s.st.AthenaWorkGroup) + "}",
		"RegistryTableName":         "${Ref:" + s.id(t, s.st.RegistryTable) + "}",
		"LedgerTableName":           "${Ref:" + s.id(t, s.st.LedgerTable) + "}",
		"SasKeyUsArn":               "${" + s.id(t, s.st.SASKeys[sas.US]) + ".Arn}",
		"SasKeyEuArn":               "${" + s.id(t, s.st.SASKeys[sas.EU]) + ".Arn}",
		"SigningKeyArn":             "${" + s.id(t, s.st.SigningKey) + ".Arn}",
		"FanOutFunctionName":        "${Ref:" + s.id(t, s.st.FanOut) + "}",
		"ExportFunctionName":        "${Ref:" + s.id(t, s.st.Export) + "}",
		"RetryFunctionName":         "${Ref:" + s.id(t, s.st.Retry) + "}",
		"ExportFailuresQueueUrl":    "${Ref:" + s.id(t, s.st.ExportFailures) + "}",
		"ExportFailuresDlqUrl":      "${Ref:" + s.id(t, s.st.ExportFailuresDLQ) + "}",
		"FanOutFailuresQueueUrl":    "${Ref:" + s.id(t, s.st.FanOutFailures) + "}",
		"FanOutFailuresDlqUrl":      "${Ref:" + s.id(t, s.st.FanOutFailuresDLQ) + "}",
		"ScheduleDlqUrl":            "${Ref:" + s.id(t, s.st.ScheduleDLQ) + "}",
		"AlarmTopicArn":             "${Ref:" + s.id(t, s.st.AlarmTopic) + "}",
		"IngestFunctionName":        "${Ref:" + s.id(t, s.st.Ingest) + "}",
		"RequestLogStreamArn":       "${" + s.id(t, s.st.RequestLogs) + ".Arn}",
		"RejectsBucketName":         "${Ref:" + s.id(t, s.st.Rejects) + "}",
		"IngestFailuresQueueUrl":    "${Ref:" + s.id(t, s.st.IngestFailures) + "}",
		"LogStoreRetentionDays":     "35",
		"OperatorPolicyArn":         "${Ref:" + s.id(t, s.st.OperatorPolicy) + "}",
		"ApiUrl":                    "https://${Ref:" + s.id(t, s.st.HTTPAPI) + "}.execute-api.${Ref:AWS::Region}.${Ref:AWS::URLSuffix}/",
		"ApiId":                     "${Ref:" + s.id(t, s.st.HTTPAPI) + "}",
		"ApiFunctionName":           "${Ref:" + s.id(t, s.st.API) + "}",
	}
	// No other output (the former DynamoDB log store's table output is
	// gone with it).
	for k := range outputs {
		if _, ok := want[k]; !ok {
			t.Errorf("output %s: not one the stack should have", k)
		}
	}
	for k, v := range want {
		o, ok := outputs[k].(map[string]interface{})
		if !ok {
			t.Errorf("no output %s", k)
			continue
		}
		if got := render(o["Value"]); got != v {
			t.Errorf("output %s = %s, want %s", k, got, v)
		}
	}
}
