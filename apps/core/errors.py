"""The one application error type; the API maps it to problem+json in one place."""


class ApplicationError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad Request"
    headers: dict[str, str] = {}

    def __init__(self, detail: str, *, field: str | None = None, errors: list | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or ([{"field": field, "code": self.code, "message": detail}]
                                 if field else [])


class InvalidInput(ApplicationError):
    status = 400
    code = "invalid"
    title = "Bad Request"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    title = "Not Found"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    title = "Conflict"
