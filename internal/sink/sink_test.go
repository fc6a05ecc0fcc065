package sink_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/sink"
)

func TestValidateMetadataAccepts(t *testing.T) {
	// One name and value that use up the whole size limit exactly.
	full := map[string]string{"a": strings.Repeat("x", sink.MaxMetadataSize-1)}
	for _, m := range []map[string]string{
		nil,
		{},
		{"orgid": "6xPqd2yYc1sZ", "sha256": strings.Repeat("0f", 32), "rows": "0"},
		{"z9": "printable ASCII: ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./ with inner spaces"},
		full,
	} {
		if err := sink.ValidateMetadata(m); err != nil {
			t.Errorf("ValidateMetadata(%.60q) = %v, want nil", m, err)
		}
	}
}

func TestValidateMetadataRefuses(t *testing.T) {
	for _, tc := range []struct {
		m         map[string]string
		field     string
		value     string
		reasonHas string
	}{
		{map[string]string{"": "x"}, "metadata name", "", "empty"},
		{map[string]string{"Orgid": "x"}, "metadata name", "Orgid", "start with a lowercase"},
		{map[string]string{"org_id": "x"}, "metadata name", "org_id", "only lowercase"},
		{map[string]string{"orgId": "x"}, "metadata name", "orgId", "only lowercase"},
		{map[string]string{"1day": "x"}, "metadata name", "1day", "start with"},
		{map[string]string{"_day": "x"}, "metadata name", "_day", "start with"},
		{map[string]string{"org-id": "x"}, "metadata name", "org-id", "only lowercase"},
		{map[string]string{"org.id": "x"}, "metadata name", "org.id", "only lowercase"},
		{map[string]string{"tag é": "x"}, "metadata name", "tag é", "only lowercase"},
		{map[string]string{"orgid": ""}, "metadata value of orgid", "", "empty"},
		{map[string]string{"orgid": " x"}, "metadata value of orgid", " x", "leading or trailing space"},
		{map[string]string{"orgid": "x "}, "metadata value of orgid", "x ", "leading or trailing space"},
		{map[string]string{"orgid": "a\r\nx-amz-acl: public-read"}, "metadata value of orgid", "a\r\nx-amz-acl: public-read", "byte 1 (0x0d)"},
		{map[string]string{"orgid": "a\tb"}, "metadata value of orgid", "a\tb", "byte 1 (0x09)"},
		{map[string]string{"orgid": "café"}, "metadata value of orgid", "café", "byte 3 (0xc3)"},
		{map[string]string{"orgid": "a\x7f"}, "metadata value of orgid", "a\x7f", "byte 1 (0x7f)"},
		// The first bad name in sorted order is the one reported.
		{map[string]string{"b-2": "x", "a-1": "x", "ok": "x"}, "metadata name", "a-1", "only lowercase"},
		// One byte over the limit, split over two names.
		{map[string]string{"a": strings.Repeat("x", 1000), "b": strings.Repeat("x", sink.MaxMetadataSize-1001)}, "metadata size", strconv.Itoa(sink.MaxMetadataSize + 1), "2048 bytes"},
	} {
		err := sink.ValidateMetadata(tc.m)
		var fe *audit.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("ValidateMetadata(%.60q) = %v, want an *audit.FieldError", tc.m, err)
			continue
		}
		if fe.Field != tc.field || fe.Value != tc.value || !strings.Contains(fe.Reason, tc.reasonHas) {
			t.Errorf("ValidateMetadata(%.60q) = {%q %q %q}, want field %q, value %q, a reason with %q",
				tc.m, fe.Field, fe.Value, fe.Reason, tc.field, tc.value, tc.reasonHas)
		}
		if sink.IsPermanent(err) {
			t.Errorf("ValidateMetadata(%.60q) is classified as a permanent destination failure: it is a bug of ours, not the customer's", tc.m)
		}
	}
}

func TestContentTypeOrDefault(t *testing.T) {
	if got := (sink.Object{}).ContentTypeOrDefault(); got != sink.DefaultContentType {
		t.Errorf("empty Object: %q, want %q", got, sink.DefaultContentType)
	}
	if got := (sink.Object{ContentType: "application/gzip"}).ContentTypeOrDefault(); got != "application/gzip" {
		t.Errorf("Object with a type: %q, want it as given", got)
	}
}
