"""The pages' words in Thai (the default) and English. A page's language comes from ``?lang=`` (kept in a
cookie), else Thai."""
from __future__ import annotations

LANGUAGES = ("th", "en")

TEXT: dict[str, dict[str, str]] = {
    "th": {
        "hub": "สะพาน: ศูนย์แลกเปลี่ยนข้อมูลเพื่อแก้ปัญหาความยากจน",
        "login": "เข้าสู่ระบบ", "token": "โทเค็นสำหรับเข้าใช้งาน (จาก hub token issue)", "logout": "ออกจากระบบ",
        "bad_token": "โทเค็นไม่ถูกต้องหรือหมดอายุ",
        "overview": "ภาพรวม", "community": "ชุมชน", "auditor": "ผู้ตรวจสอบ", "partner": "หน่วยงานภาคี",
        "view": "ชุดข้อมูล", "area": "พื้นที่", "below": "พื้นที่ย่อย", "suppressed": "ปกปิด (จำนวนน้อย)",
        "dimensions": "ครัวเรือนที่ขาดแคลนรายมิติ (TPMAP)", "mpi": "ดัชนีความยากจนหลายมิติ (MPI)",
        "errors": "ความคลาดเคลื่อนของบัญชีคนจน (การสำรวจของมหาวิทยาลัย)",
        "inclusion_errors": "อยู่ในบัญชีแต่ไม่จน", "exclusion_errors": "จนแต่ไม่อยู่ในบัญชี",
        "health": "สุขภาพ", "living": "ความเป็นอยู่", "education": "การศึกษา", "income": "รายได้",
        "access": "การเข้าถึงบริการรัฐ", "households": "ครัวเรือน", "persons": "คน",
        "up": "ขึ้นไประดับบน", "no_figures": "ชุดข้อมูลนี้ไม่มีตัวเลขนี้",
        "your_households": "ครัวเรือนในชุมชนของท่าน", "members": "สมาชิก", "agencies": "หน่วยงานที่รู้จักครัวเรือนนี้",
        "counted_only": "นับรวมเท่านั้น (ไม่ได้รับความยินยอมให้เปิดเผย)",
        "who_used": "ใครใช้ข้อมูลของชุมชนเรา", "purpose": "วัตถุประสงค์", "reads": "ครั้ง", "records": "ระเบียน",
        "first": "ครั้งแรก", "last": "ล่าสุด", "nobody": "ยังไม่มีหน่วยงานใดอ่านข้อมูลของชุมชน",
        "no_consent": "ชุมชนยังไม่ได้ให้ความยินยอมในการคืนข้อมูล",
        "log": "บันทึกการเข้าถึง", "verify": "ผลการตรวจสอบความถูกต้องของบันทึก", "intact": "ครบถ้วน ไม่ถูกแก้ไข",
        "verified_at": "ตรวจสอบเมื่อ (ผลใช้ได้ไม่เกินหนึ่งนาที)",
        "verified_as": "ผลการตรวจสอบโดยชุมชน", "not_verified": "ยังไม่ได้ตรวจสอบ", "evidence": "หลักฐาน",
        "evidence_note": "บันทึกสั้น ๆ (ห้ามใส่เลขประจำตัวประชาชน)", "record": "บันทึก",
        "status_poor": "ยากจนจริง", "status_not_poor": "ไม่ยากจน", "status_moved": "ย้ายออก",
        "status_deceased": "เสียชีวิต", "method_visit": "เยี่ยมบ้าน", "method_meeting": "ประชุมประชาคม",
        "method_document": "เอกสาร", "method_phone": "โทรศัพท์",
        "broken": "พบการแก้ไขที่เหตุการณ์", "filter": "กรอง", "actor": "ผู้กระทำ", "action": "การกระทำ",
        "since": "ตั้งแต่", "until": "ถึง", "time": "เวลา", "resource": "สิ่งที่ถูกกระทำ",
        "your_views": "ชุดข้อมูลของหน่วยงาน", "download": "ดาวน์โหลด", "rows": "แถว", "version": "ฉบับ",
        "upload": "ส่งไฟล์เข้าระบบ", "source": "แหล่งข้อมูล", "file": "ไฟล์", "send": "ส่ง",
        "report": "ผลการนำเข้า", "rows_read": "อ่าน", "accepted": "รับเข้า", "quarantined": "กักไว้ตรวจสอบ",
        "line": "บรรทัด", "reason": "เหตุผล", "recent_runs": "การนำเข้าล่าสุด", "status": "สถานะ",
        "not_yours": "ไม่มีหน้านี้สำหรับบทบาทของท่าน",
        "sources": "แหล่งข้อมูล", "reached_by": "ช่องทาง", "schedule": "รอบการดึงข้อมูล", "by_hand": "สั่งเอง",
        "last_success": "สำเร็จล่าสุด", "last_failure": "ล้มเหลวล่าสุด", "backlog": "งานค้าง", "never": "ยังไม่เคย",
        "stale": "ข้อมูลไม่เป็นปัจจุบัน", "fresh": "เป็นปัจจุบัน", "running": "กำลังทำงานตั้งแต่",
    },
    "en": {
        "hub": "Saphan: the poverty-data hub",
        "login": "Log in", "token": "Access token (from hub token issue)", "logout": "Log out",
        "bad_token": "The token is not valid or has expired",
        "overview": "Overview", "community": "Community", "auditor": "Auditor", "partner": "Partner",
        "view": "View", "area": "Area", "below": "Areas below", "suppressed": "suppressed (small count)",
        "dimensions": "Households deprived per dimension (TPMAP)", "mpi": "Multidimensional poverty index (MPI)",
        "errors": "Targeting errors (university verification)",
        "inclusion_errors": "listed, found not poor", "exclusion_errors": "poor, not listed",
        "health": "health", "living": "living conditions", "education": "education", "income": "income",
        "access": "access to public services", "households": "households", "persons": "persons",
        "up": "Up one level", "no_figures": "this view does not carry these figures",
        "your_households": "Your community's households", "members": "members", "agencies": "Agencies that know it",
        "counted_only": "counted only (no consent to show them)",
        "who_used": "Who used our data", "purpose": "purpose", "reads": "reads", "records": "records",
        "first": "first", "last": "last", "nobody": "No agency has read your community's data yet",
        "no_consent": "Your community has not granted data-return consent",
        "log": "Access log", "verify": "Log verification", "intact": "intact, unaltered",
        "verified_at": "verified at (a result serves for up to a minute)",
        "verified_as": "Verified by the community", "not_verified": "not verified yet", "evidence": "evidence",
        "evidence_note": "a short note (never a citizen ID)", "record": "Record",
        "status_poor": "poor", "status_not_poor": "not poor", "status_moved": "moved away",
        "status_deceased": "deceased", "method_visit": "home visit", "method_meeting": "village meeting",
        "method_document": "document", "method_phone": "telephone",
        "broken": "altered at event", "filter": "Filter", "actor": "actor", "action": "action",
        "since": "since", "until": "until", "time": "time", "resource": "resource",
        "your_views": "Your views", "download": "Download", "rows": "rows", "version": "version",
        "upload": "Upload a file", "source": "source", "file": "file", "send": "Send",
        "report": "Ingest report", "rows_read": "read", "accepted": "accepted", "quarantined": "quarantined",
        "line": "line", "reason": "reason", "recent_runs": "Recent ingests", "status": "status",
        "not_yours": "There is no such page for your role",
        "sources": "Sources", "reached_by": "Reached by", "schedule": "Schedule", "by_hand": "by hand",
        "last_success": "Last success", "last_failure": "Last failure", "backlog": "Backlog", "never": "never",
        "stale": "stale", "fresh": "fresh", "running": "running since",
    },
}


def language(requested: str | None, remembered: str | None) -> str:
    for choice in (requested, remembered):
        if choice in LANGUAGES:
            return choice
    return "th"
