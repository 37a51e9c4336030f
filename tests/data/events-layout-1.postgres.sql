-- An event store of layout 1 on PostgreSQL (before statuses kept what Meta charged): the tables as
-- the receiver of that layout created them (its schema, word for word), and the rows it wrote for
-- two statuses, a Flow reply and a STOP. The upgrade test loads it into a database of its own.
CREATE TABLE flowc_store (
    version integer NOT NULL
);
CREATE TABLE callbacks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at bigint NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    query text,
    content_type text,
    body bytea NOT NULL,
    digest bytea NOT NULL UNIQUE,
    recognised boolean NOT NULL,
    problem text
);
CREATE TABLE statuses (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key bytea NOT NULL UNIQUE,
    callback_id bigint NOT NULL REFERENCES callbacks(id),
    received_at bigint NOT NULL,
    message_id text,
    provider_message_id text,
    status text NOT NULL,
    "timestamp" text,
    timestamp_unix bigint,
    recipient text,
    error_code text,
    error_title text,
    error_detail text,
    ref text,
    ref1 text,
    ref2 text,
    biz_opaque_callback_data text,
    trace_id text,
    business_number text,
    phone_number_id text
);
CREATE INDEX statuses_message_id ON statuses(message_id);
CREATE INDEX statuses_provider_message_id ON statuses(provider_message_id);
CREATE INDEX statuses_ref ON statuses(ref);
CREATE INDEX statuses_recipient ON statuses(recipient);
CREATE TABLE messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key bytea NOT NULL UNIQUE,
    callback_id bigint NOT NULL REFERENCES callbacks(id),
    received_at bigint NOT NULL,
    message_id text,
    from_number text,
    context_id text,
    context_from text,
    "type" text,
    text text,
    flow_name text,
    flow_token text,
    response_json text,
    "timestamp" text,
    timestamp_unix bigint,
    trace_id text,
    business_number text,
    phone_number_id text
);
CREATE INDEX messages_context_id ON messages(context_id);
CREATE INDEX messages_flow_token ON messages(flow_token);
CREATE INDEX messages_from ON messages(from_number);
CREATE TABLE opt_outs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key bytea NOT NULL UNIQUE,
    callback_id bigint NOT NULL REFERENCES callbacks(id),
    received_at bigint NOT NULL,
    number text NOT NULL,
    word text NOT NULL,
    message_id text,
    timestamp_unix bigint
);
CREATE INDEX opt_outs_number ON opt_outs(number);
INSERT INTO flowc_store (version) VALUES (1);
INSERT INTO callbacks (received_at, method, path, query, content_type, body, digest, recognised, problem) VALUES
    (1796613733836, 'POST', '/', NULL, 'application/json', convert_to('{"statuses":[{"id":"wamid.V1A","status":"delivered"}]}', 'UTF8'), '\x01', true, NULL),
    (1796613733867, 'POST', '/', NULL, 'application/json', convert_to('{"statuses":[{"id":"wamid.V1B","status":"failed"}]}', 'UTF8'), '\x02', true, NULL),
    (1796613733900, 'POST', '/', NULL, 'application/json', convert_to('{"messages":[{"from":"14150000003","text":{"body":"STOP"}}]}', 'UTF8'), '\x03', true, NULL);
INSERT INTO statuses (event_key, callback_id, received_at, message_id, provider_message_id, status, "timestamp",
    timestamp_unix, recipient, error_code, error_title, error_detail, ref, ref1, ref2, biz_opaque_callback_data,
    trace_id, business_number, phone_number_id) VALUES
    ('\x11', 1, 1796613733836, 'wamid.V1A', 'AX-V1A', 'delivered', '1764000000', 1764000000, '14150000000', NULL, NULL,
        NULL, 'R0', NULL, NULL, NULL, 't-1', '911234567890', '104'),
    ('\x12', 2, 1796613733867, 'wamid.V1B', 'AX-V1B', 'failed', '1764000005', 1764000005, '14150000001', '131047',
        'Re-engagement message', NULL, 'R1', NULL, NULL, NULL, 't-2', '911234567890', '104');
INSERT INTO messages (event_key, callback_id, received_at, message_id, from_number, "type", text, "timestamp",
    timestamp_unix) VALUES
    ('\x13', 3, 1796613733900, 'wamid.V1S', '14150000003', 'text', 'STOP', '1764000020', 1764000020);
INSERT INTO opt_outs (event_key, callback_id, received_at, number, word, message_id, timestamp_unix) VALUES
    ('\x13', 3, 1796613733900, '14150000003', 'STOP', 'wamid.V1S', 1764000020);
