// Package redrive moves messages from one SQS queue to another: the
// operator's way to hand the retry dead-letter queue's messages back to
// the retry queue once the cause is fixed. SQS's own StartMessageMoveTask
// does this on AWS but not on every emulator; this move works everywhere
// and is safe against crashes: a message is deleted from the source only
// after the target accepted it, so a crash in between leaves a duplicate,
// never a loss (the delivery ledger makes a duplicate export harmless).
//
// It imports only the SQS client, nothing of this module; only auditctl
// imports it (`auditctl redrive`). It must not import internal/app, the
// ledger or a Lambda package: the caller hands it the client and the queues.
package redrive

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// API is the part of the SQS client a move uses.
type API interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessageBatch(context.Context, *sqs.SendMessageBatchInput, ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Move moves up to limit messages (all when limit <= 0) from the queue at
// from to the queue at to, ten at a time, with their bodies and message
// attributes, and returns how many it moved. It stops when the source
// answers empty twice in a row.
func Move(ctx context.Context, client API, from, to string, limit int) (int, error) {
	moved, empty := 0, 0
	for (limit <= 0 || moved < limit) && empty < 2 {
		n := int32(10)
		if limit > 0 && limit-moved < 10 {
			n = int32(limit - moved)
		}
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(from), MaxNumberOfMessages: n, WaitTimeSeconds: 1,
			// Long enough to send and delete a batch; on a crash the
			// messages come back to the source after it.
			VisibilityTimeout:     60,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			return moved, fmt.Errorf("receive from %s: %w", from, err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		empty = 0
		send := &sqs.SendMessageBatchInput{QueueUrl: aws.String(to)}
		byID := map[string]types.Message{}
		for i, m := range out.Messages {
			id := strconv.Itoa(i)
			byID[id] = m
			send.Entries = append(send.Entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: m.Body, MessageAttributes: m.MessageAttributes})
		}
		sent, err := client.SendMessageBatch(ctx, send)
		if err != nil {
			return moved, fmt.Errorf("send to %s: %w", to, err)
		}
		del := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(from)}
		for _, ok := range sent.Successful {
			id := aws.ToString(ok.Id)
			del.Entries = append(del.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(id), ReceiptHandle: byID[id].ReceiptHandle})
		}
		if len(del.Entries) > 0 {
			gone, err := client.DeleteMessageBatch(ctx, del)
			if err != nil {
				return moved, fmt.Errorf("delete moved messages from %s (they are in %s too now): %w", from, to, err)
			}
			moved += len(gone.Successful)
		}
		if len(sent.Failed) > 0 {
			f := sent.Failed[0]
			return moved, fmt.Errorf("send to %s: %d messages refused, e.g. %s: %s (they stay in %s)", to, len(sent.Failed), aws.ToString(f.Code), aws.ToString(f.Message), from)
		}
	}
	return moved, nil
}
