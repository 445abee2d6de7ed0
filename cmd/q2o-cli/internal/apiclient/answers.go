package apiclient

import "net/http"

// Answer is, for each operation q2o-cli reads the answer of, the body of
// its success (the status and schema the document gives it, as generated),
// the raw JSON and the HTTP response. The body is nil when the answer was
// another status or content type.

func (r *GetProfileResponse) Answer() (*Profile, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *VerifyOTPResponse) Answer() (*Session, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *ListProjectsResponse) Answer() (*ProjectStatusPage, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *ProjectStatusPageResponse) Answer() (*ProjectStatusPage, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *CreateProjectResponse) Answer() (*Project, []byte, *http.Response) {
	return r.JSON201, r.Body, r.HTTPResponse
}

func (r *GetProjectResponse) Answer() (*Project, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *UpdateProjectResponse) Answer() (*Project, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *AssignActivationCodeResponse) Answer() (*Project, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *CancelRunResponse) Answer() (*Project, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *RunProjectResponse) Answer() (*RunStarted, []byte, *http.Response) {
	return r.JSON202, r.Body, r.HTTPResponse
}

func (r *ResumeRunResponse) Answer() (*RunStarted, []byte, *http.Response) {
	return r.JSON202, r.Body, r.HTTPResponse
}

func (r *ListExecutionsResponse) Answer() (*ExecutionPage, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *GetExecutionResponse) Answer() (*ExecutionDetail, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *GetTenantExecutionResponse) Answer() (*ExecutionDetail, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *ListActivationCodesResponse) Answer() (*CodePage, []byte, *http.Response) {
	return r.JSON200, r.Body, r.HTTPResponse
}

func (r *GenerateActivationCodesResponse) Answer() (*GeneratedCodes, []byte, *http.Response) {
	return r.JSON201, r.Body, r.HTTPResponse
}
