//! The floor: the least work that turns contacts.csv into the service-booking request bodies.
//! It reads the CSV and writes each body with plain string formatting and serde_json's string
//! escaping: no template engine, no normalisation, no validation. flowc's render time is
//! reported as a multiple of this program's.
//!
//! Usage: floor CONTACTS.csv > /dev/null

use std::io::{BufWriter, Write};

fn escaped(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, text).map_err(std::io::Error::other)
}

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: floor CONTACTS.csv");
    let mut reader = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    while reader.read_record(&mut record).map_err(std::io::Error::other)? {
        let name = &record[0];
        let phone = &record[1];
        let city = if record[2].is_empty() { "Bengaluru" } else { &record[2] };
        let id = &record[3];
        out.write_all(br#"{"messaging_object":{"messaging_product":"whatsapp","recipient_type":"individual","type":"interactive","to":"#)?;
        escaped(&mut out, phone)?;
        out.write_all(br#","interactive":{"type":"flow","header":{"type":"text","text":"#)?;
        escaped(&mut out, &format!("Hi {name}, your service is due"))?;
        out.write_all(br#"},"body":{"text":"#)?;
        escaped(&mut out, &format!("Pick a slot at our {city} centre."))?;
        out.write_all(br#"},"footer":{"text":"Reply STOP to opt out"},"action":{"name":"flow","parameters":{"flow_message_version":"3","flow_id":"1234567890123456","flow_cta":"Book a slot","flow_token":"#)?;
        escaped(&mut out, &format!("booking-{id}"))?;
        out.write_all(br#","flow_action":"navigate","flow_action_payload":{"screen":"SLOT_PICKER","data":{"customer_name":"#)?;
        escaped(&mut out, name)?;
        out.write_all(br#","city":"#)?;
        escaped(&mut out, city)?;
        out.write_all(br#"}}}}}},"extra_info":{"ref":"#)?;
        escaped(&mut out, id)?;
        out.write_all(b",\"ref1\":\"service-reminder\",\"wa_source\":\"api\"}}\n")?;
        rows += 1;
    }
    out.flush()?;
    eprintln!("floor: {rows} rows");
    Ok(())
}
