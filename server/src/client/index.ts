// The HTTP client for the REST API, shared by tds-provision and the station (issue 2 fills it in).
export {};
