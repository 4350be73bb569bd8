from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.problems import PROBLEM_CONTENT_TYPE, problem_body
from apps.stripe_sync import webhooks


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Verify, store, answer; the event is processed by a worker after this returns."""
    try:
        event = webhooks.verify(request.body, request.headers.get("Stripe-Signature"))
    except webhooks.BadWebhook as error:
        body = problem_body(400, code="invalid_signature", detail=str(error),
                            instance=request.path)
        return JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
    _, created = webhooks.record(event)
    return JsonResponse({"received": True, "duplicate": not created})
