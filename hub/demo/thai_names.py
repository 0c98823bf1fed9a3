"""Thai names with the diversity of real ones, for the synthetic population.

A Thai surname belongs to one family: the Names of Persons Act B.E. 2505 lets nobody register a surname
already in use, so nearly every family has its own, usually a compound of Pali and Sanskrit morphemes
(ศรี + สุข, แก้ว + มณี + วงศ์). First names are compounds too, from a shared stock with a heavy head
(สมชาย, สมศักดิ์) and a long tail. Faker's ``th_TH`` lists (250 first names per sex, 250 surnames) are
kept as that common head; the rest is composed, so blocks on names are as small as they are in life.
"""
from __future__ import annotations

import random

from faker.providers.person.th_TH import Provider as ThaiPersonProvider

_COMMON = {"M": ThaiPersonProvider.first_names_male, "F": ThaiPersonProvider.first_names_female}
_COMMON_SURNAMES = ThaiPersonProvider.last_names

_FIRST_HEADS = {
    "M": ("สม", "ประ", "วิ", "สุ", "ธน", "ณัฐ", "กิตติ", "อนุ", "ชัย", "ศุภ", "ธีร", "วีร", "อภิ", "ภู", "เอก",
          "จิร", "พีร", "ปิยะ", "นิ", "ศักดิ์", "บุญ", "ทรง", "วัช", "เกียรติ", "พัฒ", "ธวัช", "สิทธิ", "อำ",
          "ชาญ", "ปร"),
    "F": ("สม", "วิ", "สุ", "พร", "กาญ", "ณัฐ", "ปวี", "ศิริ", "จันทร์", "รัตน", "อร", "นภ", "ปิย", "กมล",
          "สาย", "ดาว", "ทิพ", "เพ็ญ", "บุษ", "มณี", "วรร", "จิร", "อัญ", "พิม", "ลัด", "เบญ", "ชุติ", "กัล",
          "ธิ", "นิ"),
}
_FIRST_TAILS = {
    "M": ("ชาย", "ศักดิ์", "ชัย", "พงษ์", "วัฒน์", "พล", "เดช", "กร", "วุฒิ", "ภพ", "ศิลป์", "นันท์", "ยุทธ",
          "รัตน์", "กิจ", "ธร", "เกียรติ", "ฤทธิ์", "นพ", "ภณ", "ทัต", "วิทย์", "ศิษฐ์", "โชติ", "ธาดา", "ชาติ",
          "พันธ์", "ราช", "สิทธิ์", "ศร"),
    "F": ("พร", "ศรี", "ทิพย์", "รัตน์", "ลักษณ์", "นา", "ดา", "วรรณ", "มาศ", "ฉาย", "จิต", "ใจ", "พิมพ์",
          "ลดา", "นภา", "ธิดา", "ปราณี", "สุดา", "กานต์", "ภา", "ญา", "รินทร์", "ชนก", "วดี", "นี", "ณี",
          "มล", "สิริ", "ภรณ์", "ยา"),
}
_SURNAME_PARTS = (
    "ศรี", "แก้ว", "ทอง", "บุญ", "สุข", "ใจ", "ดี", "มณี", "วงศ์", "พันธ์", "สกุล", "ชัย", "เจริญ", "รุ่ง",
    "เรือง", "ธรรม", "พร", "ศักดิ์", "สวัสดิ์", "กุล", "ประเสริฐ", "มั่น", "คง", "จันทร์", "สาย", "นาค",
    "เพชร", "เงิน", "คำ", "ปัญญา", "สิทธิ์", "ไชย", "อินทร์", "พรหม", "รักษ์", "เกษม", "วัฒนา", "สมบูรณ์",
    "นิล", "ภักดี", "อุดม", "ทวี", "พูล", "สิน", "ทรัพย์", "ยิ่ง", "ยศ", "วิเศษ", "กาญจน", "โชค", "ลาภ", "ขวัญ",
    "เทพ", "ฤกษ์", "นันท", "บำรุง", "ไพศาล", "อ่อน", "หอม", "ผล",
)
#: Shares of names drawn from the common head (the rest are composed).
COMMON_FIRST_NAMES = 0.4
COMMON_SURNAMES = 0.1


def first_name(rng: random.Random, sex: str) -> str:
    """A first name for the sex: a common one 40% of the time, else a compound of two morphemes."""
    if rng.random() < COMMON_FIRST_NAMES:
        return rng.choice(_COMMON[sex])
    return rng.choice(_FIRST_HEADS[sex]) + rng.choice(_FIRST_TAILS[sex])


def surname(rng: random.Random) -> str:
    """A family's surname: one of the common stock 10% of the time, else a compound of two or three
    morphemes (about 200,000 possible)."""
    if rng.random() < COMMON_SURNAMES:
        return rng.choice(_COMMON_SURNAMES)
    parts = 2 if rng.random() < 0.3 else 3
    chosen = rng.sample(_SURNAME_PARTS, parts)
    return "".join(chosen)
