package redrive

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func queue(t *testing.T, c *sqs.Client, name string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName(name))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

func drain(t *testing.T, c *sqs.Client, url string) []string {
	t.Helper()
	var bodies []string
	for empty := 0; empty < 2; {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			empty++
		}
		for _, m := range out.Messages {
			b := aws.ToString(m.Body)
			if a, ok := m.MessageAttributes["org"]; ok {
				b += "|" + aws.ToString(a.StringValue)
			}
			bodies = append(bodies, b)
		}
	}
	slices.Sort(bodies)
	return bodies
}

// TestMoveOnMoto moves 23 messages (three batches) with their attributes
// from a dead-letter queue to a retry queue on moto, and a limited move
// moves only as many as asked.
func TestMoveOnMoto(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	c := sqs.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	dlq, retry := queue(t, c, "dlq"), queue(t, c, "retry")
	var want []string
	for i := range 23 {
		body := fmt.Sprintf(`{"org_id":"org%02d","day":"2026-11-24","attempt":1}`, i)
		_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{"org": {DataType: aws.String("String"), StringValue: aws.String(fmt.Sprintf("org%02d", i))}}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, body+"|"+fmt.Sprintf("org%02d", i))
	}
	slices.Sort(want)

	n, err := Move(ctx, c, dlq, retry, 5)
	if err != nil || n != 5 {
		t.Fatalf("limited move: %d, %v", n, err)
	}
	n, err = Move(ctx, c, dlq, retry, 0)
	if err != nil || n != 18 {
		t.Fatalf("move: %d, %v", n, err)
	}
	if left := drain(t, c, dlq); len(left) != 0 {
		t.Fatalf("left in the dead-letter queue: %v", left)
	}
	if got := drain(t, c, retry); !slices.Equal(got, want) {
		t.Fatalf("retry queue holds %d messages:\n%v\nwant\n%v", len(got), got, want)
	}
}
