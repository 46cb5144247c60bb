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
)

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
	return download(ctx, http.DefaultClient, name, cacheDir, baseURL, sums)
}

// download is Download with the client and checksums as parameters.
func download(ctx context.Context, client *http.Client, name, cacheDir, baseURL string, sums fileSums) error {
	dir := filepath.Join(cacheDir, name)
	for _, f := range idxFiles {
		if present(dir, f, sums[f]) {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		url := strings.TrimSuffix(baseURL, "/") + "/" + f + ".gz"
		if err := fetchFile(ctx, client, url, filepath.Join(dir, f+".gz"), sums[f]); err != nil {
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

// fetchFile downloads url to dst through a temporary file that is verified
// and renamed, or removed on any failure.
func fetchFile(ctx context.Context, client *http.Client, url, dst, wantMD5 string) (err error) {
	fail := func(err error) error {
		if errors.Is(err, ErrTruncated) || errors.Is(err, ErrBadFormat) || errors.Is(err, ErrChecksum) {
			return fmt.Errorf("data: downloading %s from %s: %w: %w; nothing was saved, try again",
				filepath.Base(dst), url, ErrDownload, err)
		}
		return fmt.Errorf("data: downloading %s from %s: %w: %w", filepath.Base(dst), url, ErrDownload, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("server answered %s", resp.Status))
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
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := verifyFile(tmp.Name(), true, wantMD5); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fail(err)
	}
	return nil
}
