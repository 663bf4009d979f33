/**
 * U.S. State Department `Country-Tag` codes -> ISO 3166-1 alpha-2.
 *
 * Why: the travel.state.gov advisories feed (https://travel.state.gov/_res/rss/TAsTWs.xml,
 * seen in the 2021-03-01 snapshot tests/fixtures/us-state-dept/TAsTWs_2021-03-01.xml) tags each
 * item with `<category domain='Country-Tag'>XX</category>`, and XX is a FIPS 10-4-style code,
 * NOT ISO 3166. Many of them collide with a different ISO country:
 *   RS = Russia (not Serbia, which is RI), BO = Belarus (not Bolivia, which is BL),
 *   UP = Ukraine, SF = South Africa, SR = Switzerland (not Suriname, which is NS),
 *   UC = Curaçao, BM = Burma (not Bermuda, which is BD), CT = Central African Republic,
 *   GM = Germany, SG = Senegal, CH = China, UK = United Kingdom, PS = Palau, ...
 * A few tags are State Department inventions (A1, A2, A3) or cover several ISO codes
 * (A3 French West Indies, IS "Israel, The West Bank and Gaza"). The special tag `caution`
 * (Worldwide Caution) is not a country and maps to an empty list.
 * Kosovo (KV) maps to XK, the user-assigned code in common use (CLDR, EU); it is not an official
 * ISO 3166-1 assignment. U.S. territories (RQ Puerto Rico, VQ U.S. Virgin Islands, GQ Guam,
 * AQ American Samoa, CQ Northern Mariana Islands) get no advisories and are left out on purpose.
 */

const TAGS: Record<string, readonly string[]> = {
  // Worldwide Caution: not a destination.
  caution: [],

  // --- Every tag seen in TAsTWs.xml (2021-03-01 snapshot, 210 items); comment = destination title.
  A1: ['BQ'], // Bonaire, Sint Eustatius, and Saba
  A2: ['GF'], // French Guiana
  A3: ['GP', 'MQ', 'BL', 'MF'], // French West Indies
  AA: ['AW'], // Aruba
  AC: ['AG'], // Antigua and Barbuda
  AE: ['AE'], // United Arab Emirates
  AF: ['AF'], // Afghanistan
  AG: ['DZ'], // Algeria
  AJ: ['AZ'], // Azerbaijan
  AL: ['AL'], // Albania
  AM: ['AM'], // Armenia
  AN: ['AD'], // Andorra
  AO: ['AO'], // Angola
  AR: ['AR'], // Argentina
  AS: ['AU'], // Australia
  AU: ['AT'], // Austria
  AV: ['AI'], // Anguilla
  AY: ['AQ'], // Antarctica
  BA: ['BH'], // Bahrain
  BB: ['BB'], // Barbados
  BC: ['BW'], // Botswana
  BD: ['BM'], // Bermuda
  BE: ['BE'], // Belgium
  BF: ['BS'], // The Bahamas
  BG: ['BD'], // Bangladesh
  BH: ['BZ'], // Belize
  BK: ['BA'], // Bosnia and Herzegovina
  BL: ['BO'], // Bolivia
  BM: ['MM'], // Burma (Myanmar)
  BN: ['BJ'], // Benin
  BO: ['BY'], // Belarus
  BP: ['SB'], // Solomon Islands
  BR: ['BR'], // Brazil
  BT: ['BT'], // Bhutan
  BU: ['BG'], // Bulgaria
  BX: ['BN'], // Brunei
  BY: ['BI'], // Burundi
  CA: ['CA'], // Canada
  CB: ['KH'], // Cambodia
  CD: ['TD'], // Chad
  CE: ['LK'], // Sri Lanka
  CF: ['CG'], // Republic of the Congo
  CG: ['CD'], // Democratic Republic of the Congo
  CH: ['CN'], // China
  CI: ['CL'], // Chile
  CJ: ['KY'], // Cayman Islands
  CM: ['CM'], // Cameroon
  CN: ['KM'], // Comoros
  CO: ['CO'], // Colombia
  CS: ['CR'], // Costa Rica
  CT: ['CF'], // Central African Republic
  CU: ['CU'], // Cuba
  CV: ['CV'], // Cabo Verde
  CY: ['CY'], // Cyprus
  DA: ['DK'], // Denmark
  DJ: ['DJ'], // Djibouti
  DO: ['DM'], // Dominica
  DR: ['DO'], // Dominican Republic
  EC: ['EC'], // Ecuador
  EG: ['EG'], // Egypt
  EI: ['IE'], // Ireland
  EK: ['GQ'], // Equatorial Guinea
  EN: ['EE'], // Estonia
  ER: ['ER'], // Eritrea
  ES: ['SV'], // El Salvador
  ET: ['ET'], // Ethiopia
  EZ: ['CZ'], // Czech Republic
  FI: ['FI'], // Finland
  FJ: ['FJ'], // Fiji
  FM: ['FM'], // Micronesia
  FP: ['PF'], // French Polynesia
  FR: ['FR'], // France
  GA: ['GM'], // The Gambia
  GB: ['GA'], // Gabon
  GG: ['GE'], // Georgia
  GH: ['GH'], // Ghana
  GJ: ['GD'], // Grenada
  GM: ['DE'], // Germany
  GR: ['GR'], // Greece
  GT: ['GT'], // Guatemala
  GV: ['GN'], // Guinea
  GW: ['GW'], // Guinea-Bissau
  GY: ['GY'], // Guyana
  HA: ['HT'], // Haiti
  HK: ['HK'], // Hong Kong
  HO: ['HN'], // Honduras
  HR: ['HR'], // Croatia
  HU: ['HU'], // Hungary
  IC: ['IS'], // Iceland
  ID: ['ID'], // Indonesia
  IN: ['IN'], // India
  IR: ['IR'], // Iran
  IS: ['IL', 'PS'], // Israel, The West Bank and Gaza
  IT: ['IT'], // Italy
  IV: ['CI'], // Cote d Ivoire
  IZ: ['IQ'], // Iraq
  JA: ['JP'], // Japan
  JM: ['JM'], // Jamaica
  JO: ['JO'], // Jordan
  KE: ['KE'], // Kenya
  KG: ['KG'], // Kyrgyzstan
  KN: ['KP'], // North Korea
  KR: ['KI'], // Kiribati
  KS: ['KR'], // South Korea
  KU: ['KW'], // Kuwait
  KV: ['XK'], // Kosovo
  KZ: ['KZ'], // Kazakhstan
  LA: ['LA'], // Laos
  LE: ['LB'], // Lebanon
  LG: ['LV'], // Latvia
  LH: ['LT'], // Lithuania
  LI: ['LR'], // Liberia
  LO: ['SK'], // Slovakia
  LS: ['LI'], // Liechtenstein
  LT: ['LS'], // Lesotho
  LU: ['LU'], // Luxembourg
  LY: ['LY'], // Libya
  MA: ['MG'], // Madagascar
  MC: ['MO'], // Macau
  MD: ['MD'], // Moldova
  MG: ['MN'], // Mongolia
  MH: ['MS'], // Montserrat
  MI: ['MW'], // Malawi
  MJ: ['ME'], // Montenegro
  MK: ['MK'], // North Macedonia
  ML: ['ML'], // Mali
  MO: ['MA'], // Morocco
  MP: ['MU'], // Mauritius
  MR: ['MR'], // Mauritania
  MT: ['MT'], // Malta
  MU: ['OM'], // Oman
  MV: ['MV'], // Maldives
  MX: ['MX'], // Mexico
  MY: ['MY'], // Malaysia
  MZ: ['MZ'], // Mozambique
  NC: ['NC'], // New Caledonia
  NG: ['NE'], // Niger
  NH: ['VU'], // Vanuatu
  NI: ['NG'], // Nigeria
  NL: ['NL'], // Netherlands
  NN: ['SX'], // Sint Maarten
  NO: ['NO'], // Norway
  NP: ['NP'], // Nepal
  NR: ['NR'], // Nauru
  NS: ['SR'], // Suriname
  NU: ['NI'], // Nicaragua
  NZ: ['NZ'], // New Zealand
  OD: ['SS'], // South Sudan
  PA: ['PY'], // Paraguay
  PE: ['PE'], // Peru
  PK: ['PK'], // Pakistan
  PL: ['PL'], // Poland
  PM: ['PA'], // Panama
  PO: ['PT'], // Portugal
  PP: ['PG'], // Papua New Guinea
  PS: ['PW'], // Palau
  QA: ['QA'], // Qatar
  RI: ['RS'], // Serbia
  RM: ['MH'], // Marshall Islands
  RO: ['RO'], // Romania
  RP: ['PH'], // Philippines
  RS: ['RU'], // Russia
  RW: ['RW'], // Rwanda
  SA: ['SA'], // Saudi Arabia
  SC: ['KN'], // Saint Kitts and Nevis
  SE: ['SC'], // Seychelles
  SF: ['ZA'], // South Africa
  SG: ['SN'], // Senegal
  SI: ['SI'], // Slovenia
  SL: ['SL'], // Sierra Leone
  SN: ['SG'], // Singapore
  SO: ['SO'], // Somalia
  SP: ['ES'], // Spain
  SR: ['CH'], // Switzerland
  ST: ['LC'], // Saint Lucia
  SU: ['SD'], // Sudan
  SW: ['SE'], // Sweden
  SY: ['SY'], // Syria
  TD: ['TT'], // Trinidad and Tobago
  TH: ['TH'], // Thailand
  TI: ['TJ'], // Tajikistan
  TK: ['TC'], // Turks and Caicos Islands
  TN: ['TO'], // Tonga
  TO: ['TG'], // Togo
  TP: ['ST'], // Sao Tome and Principe
  TS: ['TN'], // Tunisia
  TT: ['TL'], // Timor-Leste
  TU: ['TR'], // Turkey
  TV: ['TV'], // Tuvalu
  TW: ['TW'], // Taiwan
  TX: ['TM'], // Turkmenistan
  TZ: ['TZ'], // Tanzania
  UC: ['CW'], // Curaçao
  UG: ['UG'], // Uganda
  UK: ['GB'], // United Kingdom
  UP: ['UA'], // Ukraine
  UV: ['BF'], // Burkina Faso
  UY: ['UY'], // Uruguay
  UZ: ['UZ'], // Uzbekistan
  VC: ['VC'], // Saint Vincent and the Grenadines
  VE: ['VE'], // Venezuela
  VI: ['VG'], // British Virgin Islands
  VM: ['VN'], // Vietnam
  WA: ['NA'], // Namibia
  WS: ['WS'], // Samoa
  WZ: ['SZ'], // Eswatini
  YM: ['YE'], // Yemen
  ZA: ['ZM'], // Zambia
  ZI: ['ZW'], // Zimbabwe

  // --- FIPS 10-4 codes not in the 2021 snapshot (destinations or territories the Department
  //     may publish separately, and FIPS codes for places the feed groups under A2/A3/IS/GW).
  VT: ['VA'], // Holy See (Vatican City)
  MN: ['MC'], // Monaco
  SM: ['SM'], // San Marino
  GL: ['GL'], // Greenland
  FO: ['FO'], // Faroe Islands
  CW: ['CK'], // Cook Islands (FIPS CW; ISO CW is Curaçao, whose FIPS tag is UC)
  NE: ['NU'], // Niue (FIPS NE; Niger is NG)
  TL: ['TK'], // Tokelau (FIPS TL; Timor-Leste is TT)
  WF: ['WF'], // Wallis and Futuna
  RE: ['RE'], // Réunion
  MF: ['YT'], // Mayotte (FIPS MF; ISO MF is Saint Martin)
  SB: ['PM'], // Saint Pierre and Miquelon (FIPS SB; Solomon Islands is BP)
  FK: ['FK'], // Falkland Islands (Islas Malvinas)
  GI: ['GI'], // Gibraltar
  SH: ['SH'], // Saint Helena, Ascension, and Tristan da Cunha
  GK: ['GG'], // Guernsey
  JE: ['JE'], // Jersey
  IM: ['IM'], // Isle of Man
  WI: ['EH'], // Western Sahara
  SV: ['SJ'], // Svalbard
  PC: ['PN'], // Pitcairn Islands
  NF: ['NF'], // Norfolk Island
  KT: ['CX'], // Christmas Island
  CK: ['CC'], // Cocos (Keeling) Islands
  PU: ['GW'], // Guinea-Bissau (proper FIPS code; the feed itself uses GW)
  FG: ['GF'], // French Guiana (proper FIPS code; the feed itself uses A2)
  GP: ['GP'], // Guadeloupe (part of A3 in the feed)
  MB: ['MQ'], // Martinique (part of A3 in the feed)
  TB: ['BL'], // Saint Barthelemy (part of A3 in the feed)
  RN: ['MF'], // Saint Martin (part of A3 in the feed)
  WE: ['PS'], // West Bank (part of IS in the feed)
  GZ: ['PS'], // Gaza Strip (part of IS in the feed)
};

for (const codes of Object.values(TAGS)) Object.freeze(codes);

export const STATE_DEPT_COUNTRY_TAGS: Readonly<Record<string, readonly string[]>> = Object.freeze(TAGS);

/**
 * ISO 3166-1 alpha-2 codes for a State Department `Country-Tag`, or `undefined` for an unknown tag.
 * Two-character tags are matched case-insensitively (`rs` = `RS`); `caution` gives `[]`.
 */
export function stateDeptTagToIso(tag: string): readonly string[] | undefined {
  const trimmed = tag.trim();
  const key = trimmed.length === 2 ? trimmed.toUpperCase() : trimmed.toLowerCase();
  return Object.hasOwn(STATE_DEPT_COUNTRY_TAGS, key) ? STATE_DEPT_COUNTRY_TAGS[key] : undefined;
}
