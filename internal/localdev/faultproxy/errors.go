package faultproxy

import (
	"fmt"
	"hash/crc32"
	"html"
	"net/http"
	"strconv"
	"time"
)

// requestID is a made-up request ID for error bodies.
func requestID() string { return "faultproxy-" + strconv.FormatInt(time.Now().UnixNano(), 36) }

func xmlText(s string) string { return html.EscapeString(s) }

// Error answers status with body and content type.
func Error(status int, contentType, body string) Action {
	return Action{Kind: Respond, Status: status, Header: http.Header{"Content-Type": {contentType}}, Body: body}
}

// S3Error is an S3 REST error: S3Error(503, "SlowDown", "Please reduce
// your request rate.").
func S3Error(status int, code, msg string) Action {
	id := requestID()
	a := Error(status, "application/xml", fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId><HostId>faultproxy</HostId></Error>`,
		xmlText(code), xmlText(msg), id))
	a.Header.Set("X-Amz-Request-Id", id)
	return a
}

// STSError is an STS (query protocol) error: STSError(403,
// "AccessDenied", "...").
func STSError(status int, code, msg string) Action {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	id := requestID()
	a := Error(status, "text/xml", fmt.Sprintf(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`+
		`<Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		typ, xmlText(code), xmlText(msg), id))
	a.Header.Set("X-Amzn-Requestid", id)
	return a
}

// DynamoDBError is a DynamoDB (JSON 1.0 protocol) error: DynamoDBError(400,
// "ProvisionedThroughputExceededException", "...").
func DynamoDBError(status int, typ, msg string) Action {
	a := Error(status, "application/x-amz-json-1.0",
		fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, typ, msg))
	a.Header.Set("X-Amzn-Requestid", requestID())
	// The DynamoDB client checks every response body against this CRC.
	a.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(a.Body))), 10))
	return a
}

// KMSError is a KMS (JSON 1.1 protocol) error: KMSError(500,
// "KMSInternalException", "...").
func KMSError(status int, typ, msg string) Action {
	a := Error(status, "application/x-amz-json-1.1", fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, msg))
	a.Header.Set("X-Amzn-Requestid", requestID())
	return a
}

// AzureError is an Azure Storage error, with its code in the
// x-ms-error-code header as well as in the body: AzureError(503,
// "ServerBusy", "...").
func AzureError(status int, code, msg string) Action {
	id := requestID()
	a := Error(status, "application/xml", fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>`+
		`<Error><Code>%s</Code><Message>%s
RequestId:%s
Time:%s</Message></Error>`, xmlText(code), xmlText(msg), id, time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z")))
	a.Header.Set("x-ms-error-code", code)
	a.Header.Set("x-ms-request-id", id)
	return a
}

// Reset resets the connection after AfterBytes of the request body went
// upstream (see ResetRequest).
func Reset(afterBytes int64) Action { return Action{Kind: ResetRequest, AfterBytes: afterBytes} }

// ResetAfterResponse forwards the request and resets the connection after
// AfterBytes of the response body (see ResetResponse).
func ResetAfterResponse(afterBytes int64) Action {
	return Action{Kind: ResetResponse, AfterBytes: afterBytes}
}

// Delay forwards the request after d.
func Delay(d time.Duration) Action { return Action{Kind: Forward, Delay: d} }

// Hold forwards the request once gate is closed (see Action.Gate).
func Hold(gate <-chan struct{}) Action { return Action{Kind: Forward, Gate: gate} }

// Serial forwards matching requests one at a time (see Serialize).
func Serial() Action { return Action{Kind: Serialize} }
