package api

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/exportjob"
)

// Invoker is the part of the Lambda client LambdaExports uses.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaExports queues forced exports on the export function, each an
// asynchronous invocation as the fan-out's: Lambda retries it and sends
// its failure to the function's on-failure queue, like a night's export.
// Force: the ledger may hold the day as delivered, which is why the
// customer asks again; the ledger's lease still keeps two exports of one
// day apart.
type LambdaExports struct {
	Lambda   Invoker
	Function string
}

// Queue queues the export of org's day.
func (l *LambdaExports) Queue(ctx context.Context, org string, day audit.Day) error {
	payload, err := json.Marshal(exportjob.Payload{OrgID: org, Day: day.String(), Attempt: 1, Force: true})
	if err != nil {
		return err
	}
	out, err := l.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(l.Function), InvocationType: types.InvocationTypeEvent, Payload: payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s for org %s day %s: %w", l.Function, org, day, err)
	}
	switch out.StatusCode {
	case 202:
		return nil
	case 200:
		// Only an emulator (the local stack's Lambda Runtime Interface
		// Emulator) runs an Event invocation at once and answers 200,
		// with the runtime's error document if the export failed.
		var doc struct {
			Message string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &doc)
		if doc.Message != "" || out.FunctionError != nil {
			return fmt.Errorf("invoke %s for org %s day %s: the export failed: %s%s", l.Function, org, day, doc.Message, aws.ToString(out.FunctionError))
		}
		return nil
	}
	return fmt.Errorf("invoke %s for org %s day %s: status %d, want 202 (accepted)", l.Function, org, day, out.StatusCode)
}
