"""Wires what is sent and to whom: the consumers that queue messages on events, an org's API
(templates, previews, message log, its own sends) and the unsubscribe page."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from notify.v1 import notify_pb2_grpc

from services.common.grpc.auth import SCOPE_MEMBERS_READ, SCOPE_ORG_ADMIN
from services.common.grpc.client import ServiceClient
from services.common.runtime import Runtime
from services.common.sealing import Sealer
from services.notify.adapters.membership_directory import BatchContacts, Directory
from services.notify.adapters.template_overrides import TemplateOverrides
from services.notify.config import NotifySettings
from services.notify.domain.suppression import address_hash
from services.notify.domain.unsubscribe_links import UnsubscribeLinks
from services.notify.entrypoints.grpc_api import NotifyServicer
from services.notify.entrypoints.grpc_erasure_confirmation import add_erasure_confirmations
from services.notify.entrypoints.unsubscribe_page import add_unsubscribe_routes
from services.notify.service_layer.erasure_confirmation import ErasureConfirmations
from services.notify.service_layer.event_messages import EventMessages
from services.notify.service_layer.messages_on_events import messages_on_events
from services.notify.service_layer.org_sending import OrgSending
from services.notify.service_layer.org_templates import OrgTemplates
from services.notify.service_layer.queueing import MessageQueue
from services.notify.service_layer.unsubscribing import Unsubscribing

NOTIFY_SERVICE = "notify.v1.NotifyService"
API = f"/{NOTIFY_SERVICE}/"
# Which scope each method needs; a method missing here is denied (tests check every one is).
METHODS_BY_SCOPE = {
    SCOPE_ORG_ADMIN: ("SetTemplateOverride", "SendToMembers"),
    SCOPE_MEMBERS_READ: ("ListTemplates", "PreviewTemplate", "ListMessages"),
}
POLICY = {
    f"{API}{method}": frozenset({scope})
    for scope, methods in METHODS_BY_SCOPE.items()
    for method in methods
}


def unsubscribe_links(settings: NotifySettings) -> UnsubscribeLinks:
    key = settings.unsubscribe_key.get_secret_value()
    if not key:
        raise SystemExit("UNSUBSCRIBE_KEY is required: it signs the unsubscribe links")
    return UnsubscribeLinks(key, settings.public_base_url)


def add_messaging(
    runtime: Runtime,
    settings: NotifySettings,
    sealer: Sealer,
    membership: ServiceClient,
    wake_dispatcher: Callable[[], None],
) -> Callable[[grpc.aio.Server], None]:
    """Registers the consumers and the unsubscribe routes; returns what adds NotifyService
    and ErasureConfirmations to the gRPC server (their methods' scopes are POLICY and
    ERASURE_CONFIRMATIONS_POLICY)."""
    directory = Directory(membership)
    links = unsubscribe_links(settings)
    suppression_key = settings.suppression_key.get_secret_value().encode()
    queue = MessageQueue(
        directory,
        sealer,
        TemplateOverrides(),
        links,
        (lambda channel, address: address_hash(suppression_key, channel, address))
        if suppression_key
        else None,
    )
    for spec in messages_on_events(settings.pay_url_template, settings.reconsent_url_template):
        consumer = EventMessages(spec, queue, BatchContacts(directory, sealer))
        runtime.consume(
            spec.consumer,
            spec.topic,
            consumer.handle,
            prefetch=consumer.prefetch if spec.prefetch else None,
        )
    add_unsubscribe_routes(runtime.app, runtime.metrics, Unsubscribing(links, directory))
    confirmations = ErasureConfirmations(runtime.database, directory, queue, wake_dispatcher)
    servicer = NotifyServicer(
        runtime.database,
        OrgTemplates(runtime.database, queue.overrides),
        OrgSending(runtime.database, directory, queue),
    )

    def add(server: grpc.aio.Server) -> None:
        notify_pb2_grpc.add_NotifyServiceServicer_to_server(servicer, server)
        add_erasure_confirmations(server, confirmations)

    return add
