package failure

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsPermanent(t *testing.T) {
	for _, err := range []error{ErrAccessDenied, ErrNotFound, ErrInvalidConfig,
		fmt.Errorf("open: %w", ErrAccessDenied), errors.Join(errors.New("NoSuchBucket"), ErrNotFound)} {
		if !IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = false", err)
		}
	}
	for _, err := range []error{nil, errors.New("SlowDown"), fmt.Errorf("upload: %w", errors.New("503"))} {
		if IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = true", err)
		}
	}
}
