"""People: names in Latin, Gurmukhi and Devanagari script, phones, ages and places.

Small hand-written lists (no network, no dictionary files): enough variety for search and
pagination to behave as they would on real data.
"""

from __future__ import annotations

from dataclasses import dataclass

from seed.randomness import Randomness

# (Latin, Gurmukhi, Devanagari)
MALE_NAMES = [
    ("Gurpreet", "ਗੁਰਪ੍ਰੀਤ", "गुरप्रीत"),
    ("Harjit", "ਹਰਜੀਤ", "हरजीत"),
    ("Balwinder", "ਬਲਵਿੰਦਰ", "बलविंदर"),
    ("Sukhdev", "ਸੁਖਦੇਵ", "सुखदेव"),
    ("Jaswant", "ਜਸਵੰਤ", "जसवंत"),
    ("Manjit", "ਮਨਜੀਤ", "मनजीत"),
    ("Kuldeep", "ਕੁਲਦੀਪ", "कुलदीप"),
    ("Amarjit", "ਅਮਰਜੀਤ", "अमरजीत"),
    ("Rajinder", "ਰਾਜਿੰਦਰ", "राजिंदर"),
    ("Harpal", "ਹਰਪਾਲ", "हरपाल"),
    ("Gurdeep", "ਗੁਰਦੀਪ", "गुरदीप"),
    ("Lakhvir", "ਲਖਵੀਰ", "लखवीर"),
    ("Ramesh", "ਰਮੇਸ਼", "रमेश"),
    ("Suresh", "ਸੁਰੇਸ਼", "सुरेश"),
    ("Rohit", "ਰੋਹਿਤ", "रोहित"),
    ("Arjun", "ਅਰਜੁਨ", "अर्जुन"),
    ("Vikram", "ਵਿਕਰਮ", "विक्रम"),
    ("Anil", "ਅਨਿਲ", "अनिल"),
    ("Sunil", "ਸੁਨੀਲ", "सुनील"),
    ("Rajesh", "ਰਾਜੇਸ਼", "राजेश"),
    ("Deepak", "ਦੀਪਕ", "दीपक"),
    ("Amit", "ਅਮਿਤ", "अमित"),
    ("Sandeep", "ਸੰਦੀਪ", "संदीप"),
    ("Mohan", "ਮੋਹਨ", "मोहन"),
    ("Karan", "ਕਰਨ", "करण"),
    ("Yuvraj", "ਯੁਵਰਾਜ", "युवराज"),
    ("Tejinder", "ਤੇਜਿੰਦਰ", "तेजिंदर"),
    ("Iqbal", "ਇਕਬਾਲ", "इक़बाल"),
    ("Naresh", "ਨਰੇਸ਼", "नरेश"),
    ("Pawan", "ਪਵਨ", "पवन"),
]
FEMALE_NAMES = [
    ("Harpreet", "ਹਰਪ੍ਰੀਤ", "हरप्रीत"),
    ("Paramjit", "ਪਰਮਜੀਤ", "परमजीत"),
    ("Navneet", "ਨਵਨੀਤ", "नवनीत"),
    ("Simran", "ਸਿਮਰਨ", "सिमरन"),
    ("Manpreet", "ਮਨਪ੍ਰੀਤ", "मनप्रीत"),
    ("Jasvir", "ਜਸਵੀਰ", "जसवीर"),
    ("Kiranjeet", "ਕਿਰਨਜੀਤ", "किरनजीत"),
    ("Rajwant", "ਰਾਜਵੰਤ", "राजवंत"),
    ("Gurleen", "ਗੁਰਲੀਨ", "गुरलीन"),
    ("Amandeep", "ਅਮਨਦੀਪ", "अमनदीप"),
    ("Baljeet", "ਬਲਜੀਤ", "बलजीत"),
    ("Sukhwinder", "ਸੁਖਵਿੰਦਰ", "सुखविंदर"),
    ("Sunita", "ਸੁਨੀਤਾ", "सुनीता"),
    ("Anjali", "ਅੰਜਲੀ", "अंजली"),
    ("Priya", "ਪ੍ਰਿਆ", "प्रिया"),
    ("Pooja", "ਪੂਜਾ", "पूजा"),
    ("Neha", "ਨੇਹਾ", "नेहा"),
    ("Kavita", "ਕਵਿਤਾ", "कविता"),
    ("Meena", "ਮੀਨਾ", "मीना"),
    ("Rekha", "ਰੇਖਾ", "रेखा"),
    ("Asha", "ਆਸ਼ਾ", "आशा"),
    ("Nisha", "ਨਿਸ਼ਾ", "निशा"),
    ("Seema", "ਸੀਮਾ", "सीमा"),
    ("Jyoti", "ਜੋਤੀ", "ज्योति"),
    ("Ritu", "ਰਿਤੂ", "रितु"),
    ("Komal", "ਕੋਮਲ", "कोमल"),
    ("Savita", "ਸਵਿਤਾ", "सविता"),
    ("Sarbjit", "ਸਰਬਜੀਤ", "सरबजीत"),
    ("Inderjit", "ਇੰਦਰਜੀਤ", "इंदरजीत"),
    ("Mandeep", "ਮਨਦੀਪ", "मनदीप"),
]
SURNAMES = [
    ("Sandhu", "ਸੰਧੂ", "संधू"),
    ("Gill", "ਗਿੱਲ", "गिल"),
    ("Dhillon", "ਢਿੱਲੋਂ", "ढिल्लों"),
    ("Brar", "ਬਰਾੜ", "बराड़"),
    ("Sidhu", "ਸਿੱਧੂ", "सिद्धू"),
    ("Grewal", "ਗਰੇਵਾਲ", "ग्रेवाल"),
    ("Bajwa", "ਬਾਜਵਾ", "बाजवा"),
    ("Randhawa", "ਰੰਧਾਵਾ", "रंधावा"),
    ("Cheema", "ਚੀਮਾ", "चीमा"),
    ("Virk", "ਵਿਰਕ", "विर्क"),
    ("Mann", "ਮਾਨ", "मान"),
    ("Bhullar", "ਭੁੱਲਰ", "भुल्लर"),
    ("Sharma", "ਸ਼ਰਮਾ", "शर्मा"),
    ("Verma", "ਵਰਮਾ", "वर्मा"),
    ("Gupta", "ਗੁਪਤਾ", "गुप्ता"),
    ("Mehta", "ਮਹਿਤਾ", "मेहता"),
    ("Bhatia", "ਭਾਟੀਆ", "भाटिया"),
    ("Arora", "ਅਰੋੜਾ", "अरोड़ा"),
    ("Malhotra", "ਮਲਹੋਤਰਾ", "मल्होत्रा"),
    ("Kapoor", "ਕਪੂਰ", "कपूर"),
    ("Chopra", "ਚੋਪੜਾ", "चोपड़ा"),
    ("Kumar", "ਕੁਮਾਰ", "कुमार"),
    ("Yadav", "ਯਾਦਵ", "यादव"),
    ("Saini", "ਸੈਣੀ", "सैनी"),
    ("Bansal", "ਬਾਂਸਲ", "बंसल"),
    ("Goyal", "ਗੋਇਲ", "गोयल"),
    ("Jindal", "ਜਿੰਦਲ", "जिंदल"),
    ("Thakur", "ਠਾਕੁਰ", "ठाकुर"),
    ("Rana", "ਰਾਣਾ", "राणा"),
    ("Chauhan", "ਚੌਹਾਨ", "चौहान"),
]
SINGH = ("Singh", "ਸਿੰਘ", "सिंह")
KAUR = ("Kaur", "ਕੌਰ", "कौर")
DEVI = ("Devi", "ਦੇਵੀ", "देवी")

# (district, state, a town in it, postal code prefix)
PLACES = [
    ("Patiala", "Punjab", "Nabha", "1472"),
    ("Patiala", "Punjab", "Rajpura", "1404"),
    ("Ludhiana", "Punjab", "Khanna", "1414"),
    ("Ludhiana", "Punjab", "Jagraon", "1420"),
    ("Amritsar", "Punjab", "Ajnala", "1431"),
    ("Jalandhar", "Punjab", "Nakodar", "1440"),
    ("Bathinda", "Punjab", "Rampura Phul", "1511"),
    ("Sangrur", "Punjab", "Malerkotla", "1480"),
    ("Mohali", "Punjab", "Kharar", "1403"),
    ("Fatehgarh Sahib", "Punjab", "Sirhind", "1404"),
    ("Hoshiarpur", "Punjab", "Dasuya", "1442"),
    ("Gurdaspur", "Punjab", "Batala", "1435"),
    ("Moga", "Punjab", "Baghapurana", "1420"),
    ("Firozpur", "Punjab", "Zira", "1520"),
    ("Ambala", "Haryana", "Ambala Cantt", "1330"),
    ("Kurukshetra", "Haryana", "Pehowa", "1361"),
    ("Sirsa", "Haryana", "Dabwali", "1251"),
    ("Kaithal", "Haryana", "Cheeka", "1360"),
    ("Una", "Himachal Pradesh", "Amb", "1772"),
    ("Kangra", "Himachal Pradesh", "Nurpur", "1761"),
    ("Sri Ganganagar", "Rajasthan", "Sadulshahar", "3351"),
    ("Chandigarh", "Chandigarh", "Manimajra", "1601"),
    ("Jammu", "Jammu and Kashmir", "R S Pura", "1811"),
]
RELATIONS = ["spouse", "son", "daughter", "mother", "father", "brother", "sister"]


@dataclass(frozen=True)
class Name:
    latin: str
    gurmukhi: str
    devanagari: str

    def in_script(self, script: str) -> str:
        return {"latin": self.latin, "gurmukhi": self.gurmukhi, "devanagari": self.devanagari}[
            script
        ]


def person_name(rng: Randomness, sex: str, surname: tuple[str, str, str] | None = None) -> Name:
    """A first name and a family name; many Sikh names end in Singh or Kaur."""
    first = rng.choice(MALE_NAMES if sex == "male" else FEMALE_NAMES)
    if surname is None:
        draw = rng.random()
        if draw < 0.35:
            surname = SINGH if sex == "male" else KAUR
        elif draw < 0.4 and sex == "female":
            surname = DEVI
        else:
            surname = rng.choice(SURNAMES)
    return Name(*(f"{f} {s}" for f, s in zip(first, surname, strict=True)))


# How a second desk writes a name it has heard: (as written, as written again).
RESPELLINGS = [
    ("ee", "i"),
    ("Kaur", "Kour"),
    ("Singh", "Sing"),
    ("w", "v"),
    ("inder", "indar"),
    ("jit", "jeet"),
    ("oo", "u"),
    ("Gill", "Gil"),
]


def written_again(rng: Randomness, name: Name, script: str) -> str:
    """The same person's name as another registration writes it: in another script, or
    spelled another way (what makes a duplicate record)."""
    respellings = [(a, b) for a, b in RESPELLINGS if a in name.latin]
    if script != "latin" or not respellings or rng.chance(0.3):
        return name.in_script(
            rng.choice([s for s in ("latin", "gurmukhi", "devanagari") if s != script])
        )
    was, now = rng.choice(respellings)
    return name.latin.replace(was, now, 1)


def family_surname(rng: Randomness) -> tuple[str, str, str]:
    return rng.choice(SURNAMES)


def script_for(rng: Randomness, state: str) -> str:
    """Most names are written in Latin script; some in Gurmukhi (Punjab) or Devanagari."""
    draw = rng.random()
    if draw < 0.8:
        return "latin"
    return "gurmukhi" if state == "Punjab" and draw < 0.93 else "devanagari"


def language_for(script: str, rng: Randomness) -> str:
    if script == "gurmukhi":
        return "pa"
    if script == "devanagari":
        return "hi"
    return rng.choice(("en", "en", "pa", "hi"))


def mobile(rng: Randomness) -> str:
    """An Indian mobile number in E.164 (+91 and ten digits starting 6-9)."""
    return f"+91{rng.choice('6789')}{rng.randrange(10**9):09d}"


def date_of_birth(rng: Randomness, today_ordinal: int) -> int:
    """An ordinal date: ages from newborn to 95, weighted to adults as clinics see them."""
    age_years = rng.choice(
        (rng.uniform(0, 18), rng.uniform(18, 60), rng.uniform(18, 60), rng.uniform(45, 95))
    )
    return today_ordinal - int(age_years * 365.25) - 1
