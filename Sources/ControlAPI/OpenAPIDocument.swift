/// The control API described as OpenAPI 3.1, served at /openapi.json. Kept next to the
/// routes it describes; the API tests check that every route listed here answers.
let openAPIDocument = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Portcullis control API",
    "version": "1.0.0",
    "description": "Registers VMs and exemptions on one hypervisor, answers why traffic is blocked, and serves the SMTP relay's transaction log. Served on a root-only unix socket. Errors are JSON {\"error\": text, \"field\": name|null}; 400 names the field at fault and nothing was applied."
  },
  "paths": {
    "/v1/status": {"get": {"summary": "Daemon and policy status", "responses": {"200": {"description": "status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}}}},
    "/v1/vms": {
      "get": {"summary": "List VMs", "responses": {"200": {"description": "VMs with their derived access type", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/VMView"}}}}}}},
      "post": {"summary": "Register a VM (applied to the kernel before it is stored)",
               "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VMRequest"}}}},
               "responses": {"201": {"description": "registered", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VMView"}}}},
                             "400": {"$ref": "#/components/responses/Invalid"}}}
    },
    "/v1/vms/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "One VM", "responses": {"200": {"description": "the VM", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VMView"}}}}, "404": {"$ref": "#/components/responses/NotFound"}}},
      "delete": {"summary": "Remove a VM and its exemptions", "responses": {"200": {"description": "the removed VM"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/exemptions": {
      "get": {"summary": "Active exemptions", "responses": {"200": {"description": "exemptions", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Exemption"}}}}}}},
      "post": {"summary": "Grant an exemption (expires by itself, in the kernel too)",
               "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExemptionRequest"}}}},
               "responses": {"201": {"description": "granted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Exemption"}}}},
                             "400": {"$ref": "#/components/responses/Invalid"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/exemptions/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "delete": {"summary": "Revoke an exemption", "responses": {"200": {"description": "the revoked exemption"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/filters": {
      "get": {"summary": "Filters in force", "responses": {"200": {"description": "filters", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Filter"}}}}}}},
      "post": {"summary": "Place a filter (inbound or outbound; lifts itself at expiry, in the kernel too)",
               "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FilterRequest"}}}},
               "responses": {"201": {"description": "placed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Filter"}}}},
                             "400": {"$ref": "#/components/responses/Invalid"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/filters/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "delete": {"summary": "Lift a filter", "responses": {"200": {"description": "the lifted filter"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/cases": {"get": {"summary": "Abuse cases, most recently updated first (without their evidence)",
      "parameters": [{"name": "status", "in": "query", "schema": {"type": "string", "enum": ["open", "closed"]}},
                     {"name": "vm", "in": "query", "schema": {"type": "string"}}],
      "responses": {"200": {"description": "cases", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/AbuseCase"}}}}},
                    "400": {"$ref": "#/components/responses/Invalid"}}}},
    "/v1/cases/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "One case with its evidence, oldest first", "responses": {"200": {"description": "case", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AbuseCase"}}}}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/cases/{id}/close": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {"summary": "Close a case (filters in force stay until they expire or are lifted)",
               "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["resolution"], "properties": {"resolution": {"type": "string"}}}}}},
               "responses": {"200": {"description": "the closed case"}, "400": {"$ref": "#/components/responses/Invalid"}, "404": {"$ref": "#/components/responses/NotFound"}, "409": {"description": "already closed"}}}
    },
    "/v1/cases/{id}/notes": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {"summary": "Add an operator's note to a case",
               "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}},
               "responses": {"201": {"description": "the case"}, "400": {"$ref": "#/components/responses/Invalid"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/notices": {"get": {"summary": "The notice outbox, newest first",
      "parameters": [{"name": "case", "in": "query", "schema": {"type": "string"}},
                     {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["pending", "delivered", "failed"]}}],
      "responses": {"200": {"description": "notices"}, "400": {"$ref": "#/components/responses/Invalid"}}}},
    "/v1/notices/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "One notice with its delivery state", "responses": {"200": {"description": "notice"}, "404": {"$ref": "#/components/responses/NotFound"}}}
    },
    "/v1/notices/{id}/preview": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "The exact text of a notice: the e-mail with its headers, or the webhook's JSON body",
              "responses": {"200": {"description": "text", "content": {"text/plain": {}}}, "404": {"$ref": "#/components/responses/NotFound"}, "409": {"description": "notices are not configured"}}}
    },
    "/v1/explain": {"get": {"summary": "Why a VM may or may not reach a port, and the remedies",
      "parameters": [{"name": "vm", "in": "query", "required": true, "schema": {"type": "string"}},
                     {"name": "port", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 1, "maximum": 65535}},
                     {"name": "protocol", "in": "query", "schema": {"type": "string", "enum": ["tcp", "udp"], "default": "tcp"}}],
      "responses": {"200": {"description": "explanation"}, "400": {"$ref": "#/components/responses/Invalid"}, "404": {"$ref": "#/components/responses/NotFound"}}}},
    "/v1/plan": {"get": {"summary": "Which access type fits a deployment's needs",
      "parameters": [{"name": "needs", "in": "query", "required": true, "schema": {"type": "string"}, "description": "comma-separated: smtp, mail-server, web, database, dev, port:N"}],
      "responses": {"200": {"description": "plan"}, "400": {"$ref": "#/components/responses/Invalid"}}}},
    "/v1/audit": {"get": {"summary": "Audit log, newest first", "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "default": 100}}], "responses": {"200": {"description": "entries"}}}},
    "/v1/smtp/log": {"get": {"summary": "The SMTP relay's transaction log, newest first: one record per mail transaction",
      "parameters": [{"name": "vm", "in": "query", "schema": {"type": "string"}, "description": "only this VM's records"},
                     {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "only records since: seconds back (3600), a duration (30m, 1h, 2d, 1w) or an ISO 8601 time (2025-01-31T12:00:00Z)"},
                     {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}}],
      "responses": {"200": {"description": "records", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/SMTPLogEntry"}}}}},
                    "400": {"$ref": "#/components/responses/Invalid"}}}},
    "/v1/ruleset": {"get": {"summary": "The nftables ruleset as loaded", "responses": {"200": {"description": "nft script", "content": {"text/plain": {}}}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition", "content": {"text/plain": {}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI document"}}}}
  },
  "components": {
    "responses": {
      "Invalid": {"description": "invalid input; nothing applied", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "unknown VM or exemption", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}}},
      "VMRequest": {"type": "object", "required": ["id", "tenant", "interface", "mac"], "properties": {
        "id": {"type": "string"}, "tenant": {"type": "string"}, "contact": {"type": "string"},
        "interface": {"type": "string", "maxLength": 15, "pattern": "^[A-Za-z0-9_.-]+$"},
        "mac": {"type": "string"}, "ipv4": {"type": "array", "items": {"type": "string"}},
        "ipv6": {"type": "array", "items": {"type": "string"}}, "allow_source": {"type": "array", "items": {"type": "string"}},
        "bridge": {"type": "string", "maxLength": 15, "pattern": "^[A-Za-z0-9_.-]+$", "description": "the Linux bridge the interface is a port of, if bridged"},
        "routed": {"type": "boolean", "description": "the interface is routed (the host is the VM's gateway)"}}},
      "VMView": {"type": "object", "properties": {"vm": {"$ref": "#/components/schemas/VMRequest"}, "access_type": {"type": "string", "enum": ["public", "restricted"]}, "exemptions": {"type": "array", "items": {"$ref": "#/components/schemas/Exemption"}}}},
      "ExemptionRequest": {"type": "object", "required": ["vm", "ports", "reason"], "properties": {"vm": {"type": "string"}, "ports": {"type": "string", "example": "25,465,587"}, "reason": {"type": "string"}, "expires": {"type": "string", "example": "30d"}}},
      "Filter": {"type": "object", "properties": {"id": {"type": "string"}, "vm": {"type": "string"}, "direction": {"type": "string", "enum": ["in", "out"]}, "port": {"type": "integer"}, "remote": {"type": "string"}, "effect": {"type": "string", "enum": ["block", "throttle", "quarantine"]}, "reason": {"type": "string"}, "placed_by": {"type": "string"}, "placed_at": {"type": "string", "format": "date-time"}, "expires_at": {"type": "string", "format": "date-time"}}},
      "FilterRequest": {"type": "object", "required": ["vm", "direction", "reason", "expires"], "properties": {"vm": {"type": "string"}, "direction": {"type": "string", "enum": ["in", "out"]}, "port": {"type": "integer", "minimum": 1, "maximum": 65535}, "remote": {"type": "string", "description": "far-side prefix: source of inbound, destination of outbound"}, "effect": {"type": "string", "enum": ["block", "throttle", "quarantine"], "default": "block", "description": "throttle and quarantine: outbound, no port or prefix"}, "notify": {"type": "boolean", "description": "send the tenant and the webhook a notice"}, "reason": {"type": "string"}, "expires": {"type": "string", "example": "2h"}}},
      "AbuseCase": {"type": "object", "properties": {"id": {"type": "string"}, "vm": {"type": "string"}, "tenant": {"type": "string"}, "status": {"type": "string", "enum": ["open", "closed"]}, "opened_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}, "closed_at": {"type": "string", "format": "date-time"}, "closed_by": {"type": "string"}, "resolution": {"type": "string"}, "signals": {"type": "array", "items": {"type": "string"}}, "evidence_count": {"type": "integer"}, "evidence": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}, "kind": {"type": "string", "enum": ["detection", "filter_placed", "filter_lifted", "notice_queued", "notice_outcome", "note"]}, "actor": {"type": "string"}, "summary": {"type": "string"}, "details": {"type": "array", "items": {"type": "string"}}}}}}},
      "Exemption": {"type": "object", "properties": {"id": {"type": "string"}, "vm": {"type": "string"}, "ports": {"type": "array", "items": {"type": "integer"}}, "reason": {"type": "string"}, "granted_by": {"type": "string"}, "granted_at": {"type": "string", "format": "date-time"}, "expires_at": {"type": "string", "format": "date-time"}}},
      "SMTPTLS": {"type": "object", "required": ["version", "cipher"], "properties": {"version": {"type": "string", "example": "TLSv1.3"}, "cipher": {"type": "string", "example": "TLS_AES_256_GCM_SHA384"}}},
      "SMTPLogEntry": {"type": "object", "required": ["time", "vm", "tenant", "client", "destination", "destination_port", "sender", "recipient_count", "recipient_domains", "recipients_refused_by_limit", "size_bytes", "verdict", "duration_ms"], "properties": {
        "time": {"type": "string", "format": "date-time", "description": "when the transaction ended"},
        "vm": {"type": "string"}, "tenant": {"type": "string"},
        "client": {"type": "string", "description": "the VM's address the connection came from"},
        "destination": {"type": "string", "description": "the MX address the VM connected to"}, "destination_port": {"type": "integer"},
        "upstream_greeting_domain": {"type": "string", "description": "the host name in the upstream's 220 greeting, as it claimed it"},
        "ehlo_name": {"type": "string"},
        "sender": {"type": "string", "description": "MAIL FROM without brackets; empty for the null reverse-path <>"},
        "recipient_count": {"type": "integer", "description": "RCPTs the upstream accepted"},
        "recipient_domains": {"type": "array", "items": {"type": "string"}, "description": "lowercased, without repeats"},
        "recipients_refused_by_limit": {"type": "integer", "description": "RCPTs the relay refused itself (recipient limit)"},
        "recipients_refused_by_upstream": {"type": "integer", "description": "RCPTs the upstream did not accept (refused, or unanswered when the transaction ended)"},
        "size_bytes": {"type": "integer"},
        "client_tls": {"$ref": "#/components/schemas/SMTPTLS"}, "upstream_tls": {"$ref": "#/components/schemas/SMTPTLS"},
        "upstream_reply": {"type": "object", "required": ["code", "text"], "properties": {"code": {"type": "integer"}, "enhanced_code": {"type": "string", "example": "2.0.0"}, "text": {"type": "string"}}},
        "verdict": {"type": "string", "enum": ["relayed", "rejectedByUpstream", "sizeExceeded", "tooManyRecipients", "rateLimited", "bareLineEnding", "lineTooLong", "aborted"]},
        "duration_ms": {"type": "integer", "description": "from MAIL FROM to the end of the transaction"}}},
      "Status": {"type": "object", "properties": {"site": {"type": "string"}, "vms": {"type": "integer"}, "restricted_vms": {"type": "integer"}, "active_exemptions": {"type": "integer"}, "restricted_tcp_ports": {"type": "array", "items": {"type": "integer"}}, "last_reconcile": {"type": "string", "format": "date-time"}, "last_drift": {"type": "string"}, "repairs": {"type": "integer"}, "failed_transactions": {"type": "integer"}}}
    }
  }
}
"""#
