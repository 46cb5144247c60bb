package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fetchLimits bound one download: the bytes a server may send for a file (see
// maxGzipBytes) and how long it may take, so that a stalled or endless server fails
// the download by name instead of hanging or filling the disk.
type fetchLimits struct {
	payload map[string]int64 // file (no .gz) -> uncompressed size; the body's bound derives from it
	idle    time.Duration    // the longest wait for the next byte (or the response headers)
	total   time.Duration    // the longest one file may take, however steady the trickle
}

// defaultFetchLimits are Download's: the canonical files' sizes, a minute without a
// byte, and 10 minutes plus the time to fetch the bound at 20 kB/s per file.
func defaultFetchLimits() fetchLimits {
	return fetchLimits{payload: canonicalPayloadBytes, idle: time.Minute, total: 10 * time.Minute}
}

// maxGzipBytes bounds the gzip file of a payload of n bytes: deflate's stored blocks
// add 5 bytes per 65535, and the gzip header and trailer (with a file name) a few
// hundred more; a mirror's file is never larger.
func maxGzipBytes(n int64) int64 { return n + n/65535*5 + 64<<10 }

// totalTimeout is lim.total plus the time to receive the body's bound at 20 kB/s.
func (lim fetchLimits) totalTimeout(file string) time.Duration {
	return lim.total + time.Duration(maxGzipBytes(lim.payload[file])/(20<<10))*time.Second
}

// Download fetches the four canonical files of name ("mnist" or
// "fashion-mnist") from baseURL (if "", the dataset's canonical mirror) into
// cacheDir/<name>/ (if cacheDir is "", DefaultDir()), verifying the MD5 of
// each file's uncompressed payload. A file already present and valid is not
// fetched again. Each file is downloaded to a temporary file in the same
// directory, verified, then renamed into place, so a corrupted or truncated
// download leaves nothing behind.
func Download(ctx context.Context, name, cacheDir, baseURL string) error {
	if name == "digits" {
		return fmt.Errorf("data: digits is embedded in the binary; there is nothing to download")
	}
	sums, ok := canonicalMD5[name]
	if !ok {
		return unknownDatasetError(name)
	}
	if baseURL == "" {
		baseURL = defaultBaseURL[name]
	}
	if cacheDir == "" {
		cacheDir = DefaultDir()
	}
	return download(ctx, http.DefaultClient, name, cacheDir, baseURL, sums, defaultFetchLimits())
}

// download is Download with the client, checksums and limits as parameters.
func download(ctx context.Context, client *http.Client, name, cacheDir, baseURL string, sums fileSums, lim fetchLimits) error {
	dir := filepath.Join(cacheDir, name)
	for _, f := range idxFiles {
		if present(dir, f, sums[f]) {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		url := strings.TrimSuffix(baseURL, "/") + "/" + f + ".gz"
		if err := fetchFile(ctx, client, url, filepath.Join(dir, f+".gz"), sums[f], lim.payload[f], lim.idle, lim.totalTimeout(f)); err != nil {
			return err
		}
	}
	return nil
}

// present reports whether the copy of file that Load would read from dir
// (file.gz, else file) exists and has a valid payload.
func present(dir, file, wantMD5 string) bool {
	for _, p := range []string{filepath.Join(dir, file+".gz"), filepath.Join(dir, file)} {
		if _, err := os.Stat(p); err == nil {
			return verifyFile(p, isGzip(p), wantMD5) == nil
		}
	}
	return false
}

// errStalled and errTooSlow are the causes a download's context is canceled with.
var (
	errStalled = errors.New("the server sent nothing")
	errTooSlow = errors.New("the download took too long")
)

// fetchFile downloads url to dst through a temporary file that is verified
// and renamed, or removed on any failure. The body may hold at most
// maxGzipBytes(payload) bytes and must keep arriving: idle without a byte, or total
// in all, cancels it.
func fetchFile(ctx context.Context, client *http.Client, url, dst, wantMD5 string, payload int64, idle, total time.Duration) (err error) {
	fail := func(err error) error {
		if errors.Is(err, ErrTruncated) || errors.Is(err, ErrBadFormat) || errors.Is(err, ErrChecksum) {
			return fmt.Errorf("data: downloading %s from %s: %w: %w; nothing was saved, try again",
				filepath.Base(dst), url, ErrDownload, err)
		}
		return fmt.Errorf("data: downloading %s from %s: %w: %w", filepath.Base(dst), url, ErrDownload, err)
	}
	limit := maxGzipBytes(payload)
	ctx, cancelTotal := context.WithTimeoutCause(ctx, total, fmt.Errorf("%w: more than %v", errTooSlow, total))
	defer cancelTotal()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("%w for %v", errStalled, idle)
	timer := time.AfterFunc(idle, func() { cancel(stalled) })
	defer timer.Stop()
	// timedOut names the limit that ended the download, if one did.
	timedOut := func(err error) error {
		if c := context.Cause(ctx); c != nil && (errors.Is(c, errStalled) || errors.Is(c, errTooSlow)) {
			return c
		}
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(timedOut(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("server answered %s", resp.Status))
	}
	if resp.ContentLength > limit {
		return fail(fmt.Errorf("the server announces %d bytes; the file (a gzip of %d bytes) is at most %d", resp.ContentLength, payload, limit))
	}

	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	body := &idleReader{r: io.LimitReader(resp.Body, limit+1), timer: timer, idle: idle}
	n, err := io.Copy(tmp, body)
	if err != nil {
		return fail(timedOut(err))
	}
	if n > limit {
		return fail(fmt.Errorf("the server sent more than %d bytes; the file (a gzip of %d bytes) is at most that", limit, payload))
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	timer.Stop()
	if err := verifyPayload(tmp.Name(), true, wantMD5, payload); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fail(err)
	}
	return nil
}

// idleReader restarts timer (which cancels the download) whenever bytes arrive.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (r *idleReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}
