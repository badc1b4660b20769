<?xml version="1.0" encoding="UTF-8"?>
<!--
  moisson's browser view of OAI-PMH 2.0 responses (served at /oai2.xsl).

  Every response of the endpoint starts with <?xml-stylesheet type="text/xsl" href="oai2.xsl?v=…"?>.
  A browser applies this stylesheet and shows a readable page; a harvester ignores the
  instruction and reads the XML, which is unchanged. XSLT 1.0 only, so that every browser's
  built-in processor (libxslt in Chromium and Safari, TransforMiiX in Firefox) runs it.

  Links are relative ("?verb=…"): they go to the very URL the page came from, whatever proxy
  sits in front. Values put into links are percent-encoded by the url-encode template.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:oai="http://www.openarchives.org/OAI/2.0/"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:oai-id="http://www.openarchives.org/OAI/2.0/oai-identifier"
    xmlns:prov="http://www.openarchives.org/OAI/2.0/provenance"
    exclude-result-prefixes="oai oai_dc dc oai-id prov">

  <xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>

  <xsl:variable name="request" select="/oai:OAI-PMH/oai:request"/>
  <xsl:variable name="verb" select="$request/@verb"/>
  <!-- The format for GetRecord links: the one asked for, else oai_dc (a resumed list does not
       echo its metadataPrefix). -->
  <xsl:variable name="prefix">
    <xsl:choose>
      <xsl:when test="$request/@metadataPrefix"><xsl:value-of select="$request/@metadataPrefix"/></xsl:when>
      <xsl:otherwise>oai_dc</xsl:otherwise>
    </xsl:choose>
  </xsl:variable>

  <!-- ===================================================================== page frame -->

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>
          <xsl:call-template name="page-title"/>
          <xsl:text> · OAI-PMH</xsl:text>
        </title>
        <style>
          :root { color-scheme: light dark; --muted: #666; --line: #ccc; --accent: #1a5fb4; --bad: #a51d2d; --note: #8a6d00; }
          @media (prefers-color-scheme: dark) { :root { --muted: #aaa; --line: #555; --accent: #78aeed; --bad: #f66151; --note: #f5c211; } }
          body { font-family: system-ui, sans-serif; line-height: 1.45; margin: 0 auto; max-width: 62rem; padding: 0 1rem 2rem; }
          header.site { border-bottom: 1px solid var(--line); padding: .75rem 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: baseline; }
          header.site .endpoint { font-weight: 600; margin-right: auto; }
          nav.verbs a { margin-right: .75rem; }
          nav.verbs a[aria-current] { font-weight: 700; text-decoration: none; }
          a { color: var(--accent); }
          h1 { font-size: 1.6rem; margin: 1.25rem 0 .25rem; }
          h1 .verb, .muted { color: var(--muted); font-weight: 400; }
          h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
          code { font-family: ui-monospace, monospace; font-size: .92em; word-break: break-all; }
          table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
          th, td { text-align: left; vertical-align: top; padding: .3rem .6rem .3rem 0; border-bottom: 1px solid var(--line); }
          table.fields th { width: 13rem; font-weight: 600; }
          thead th { border-bottom: 2px solid var(--line); }
          article.record { border: 1px solid var(--line); border-radius: .4rem; padding: .8rem 1rem; margin: 1rem 0; }
          article.record.deleted { border-style: dashed; }
          .header-line { color: var(--muted); font-size: .9rem; margin: .4rem 0 0; }
          .lang { color: var(--muted); font-size: .85em; }
          .error { border-left: .3rem solid var(--bad); padding: .2rem 0 .2rem 1rem; margin: 1rem 0; }
          .error.notice { border-left-color: var(--note); }
          .error h2 { color: var(--bad); }
          .error.notice h2 { color: var(--note); }
          .said { color: var(--muted); }
          nav.pager { border-top: 1px solid var(--line); margin-top: 1.5rem; padding-top: .75rem; }
          nav.pager a { font-weight: 600; }
          ul.generic { margin: .25rem 0; padding-left: 1.2rem; }
          footer { border-top: 1px solid var(--line); margin-top: 2rem; padding-top: .5rem; color: var(--muted); font-size: .85rem; }
        </style>
      </head>
      <body>
        <header class="site">
          <span class="endpoint">
            <xsl:text>OAI-PMH endpoint </xsl:text>
            <code><xsl:value-of select="normalize-space($request)"/></code>
          </span>
          <nav class="verbs" aria-label="OAI-PMH requests">
            <xsl:call-template name="nav-link">
              <xsl:with-param name="for">Identify</xsl:with-param>
              <xsl:with-param name="href">?verb=Identify</xsl:with-param>
              <xsl:with-param name="text">About</xsl:with-param>
            </xsl:call-template>
            <xsl:call-template name="nav-link">
              <xsl:with-param name="for">ListRecords</xsl:with-param>
              <xsl:with-param name="href">?verb=ListRecords&amp;metadataPrefix=oai_dc</xsl:with-param>
              <xsl:with-param name="text">Records</xsl:with-param>
            </xsl:call-template>
            <xsl:call-template name="nav-link">
              <xsl:with-param name="for">ListIdentifiers</xsl:with-param>
              <xsl:with-param name="href">?verb=ListIdentifiers&amp;metadataPrefix=oai_dc</xsl:with-param>
              <xsl:with-param name="text">Identifiers</xsl:with-param>
            </xsl:call-template>
            <xsl:call-template name="nav-link">
              <xsl:with-param name="for">ListSets</xsl:with-param>
              <xsl:with-param name="href">?verb=ListSets</xsl:with-param>
              <xsl:with-param name="text">Sets</xsl:with-param>
            </xsl:call-template>
            <xsl:call-template name="nav-link">
              <xsl:with-param name="for">ListMetadataFormats</xsl:with-param>
              <xsl:with-param name="href">?verb=ListMetadataFormats</xsl:with-param>
              <xsl:with-param name="text">Formats</xsl:with-param>
            </xsl:call-template>
          </nav>
        </header>
        <main>
          <h1>
            <xsl:call-template name="page-title"/>
            <xsl:if test="$verb">
              <xsl:text> </xsl:text>
              <span class="verb">(<xsl:value-of select="$verb"/>)</span>
            </xsl:if>
          </h1>
          <xsl:if test="$request/@*[name() != 'verb']">
            <p class="muted">
              <xsl:text>Asked for: </xsl:text>
              <xsl:for-each select="$request/@*[name() != 'verb']">
                <xsl:if test="position() &gt; 1">, </xsl:if>
                <xsl:value-of select="name()"/>
                <xsl:text> = </xsl:text>
                <code><xsl:value-of select="."/></code>
              </xsl:for-each>
            </p>
          </xsl:if>
          <xsl:apply-templates select="/oai:OAI-PMH/oai:error"/>
          <xsl:apply-templates select="/oai:OAI-PMH/oai:Identify | /oai:OAI-PMH/oai:GetRecord | /oai:OAI-PMH/oai:ListRecords | /oai:OAI-PMH/oai:ListIdentifiers | /oai:OAI-PMH/oai:ListSets | /oai:OAI-PMH/oai:ListMetadataFormats"/>
        </main>
        <footer>
          <xsl:text>Answered on </xsl:text>
          <xsl:call-template name="date">
            <xsl:with-param name="d" select="/oai:OAI-PMH/oai:responseDate"/>
          </xsl:call-template>
          <xsl:text>. This page is an OAI-PMH 2.0 XML response shown through a stylesheet; harvesters receive the very same XML (use your browser's “view source” to see it).</xsl:text>
        </footer>
      </body>
    </html>
  </xsl:template>

  <xsl:template name="page-title">
    <xsl:choose>
      <xsl:when test="/oai:OAI-PMH/oai:error and not(/oai:OAI-PMH/oai:error[@code != 'noRecordsMatch'])">No records</xsl:when>
      <xsl:when test="/oai:OAI-PMH/oai:error">The repository could not answer this request</xsl:when>
      <xsl:when test="$verb = 'Identify'">
        <xsl:value-of select="/oai:OAI-PMH/oai:Identify/oai:repositoryName"/>
      </xsl:when>
      <xsl:when test="$verb = 'GetRecord'">Record</xsl:when>
      <xsl:when test="$verb = 'ListRecords'">Records</xsl:when>
      <xsl:when test="$verb = 'ListIdentifiers'">Record identifiers</xsl:when>
      <xsl:when test="$verb = 'ListSets'">Sets</xsl:when>
      <xsl:when test="$verb = 'ListMetadataFormats'">Metadata formats</xsl:when>
      <xsl:otherwise>OAI-PMH response</xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="nav-link">
    <xsl:param name="for"/>
    <xsl:param name="href"/>
    <xsl:param name="text"/>
    <a href="{$href}">
      <xsl:if test="$verb = $for">
        <xsl:attribute name="aria-current">page</xsl:attribute>
      </xsl:if>
      <xsl:value-of select="$text"/>
    </a>
  </xsl:template>

  <!-- ===================================================================== errors (§3.6) -->

  <xsl:template match="oai:error">
    <section>
      <xsl:attribute name="class">
        <xsl:text>error</xsl:text>
        <xsl:if test="@code = 'noRecordsMatch'"> notice</xsl:if>
      </xsl:attribute>
      <h2>
        <xsl:choose>
          <xsl:when test="@code = 'badArgument'">The request's arguments are not right</xsl:when>
          <xsl:when test="@code = 'badResumptionToken'">This resumption token is not valid</xsl:when>
          <xsl:when test="@code = 'badVerb'">Unknown or missing verb</xsl:when>
          <xsl:when test="@code = 'cannotDisseminateFormat'">This metadata format is not available</xsl:when>
          <xsl:when test="@code = 'idDoesNotExist'">There is no record with this identifier</xsl:when>
          <xsl:when test="@code = 'noRecordsMatch'">No records match this request</xsl:when>
          <xsl:when test="@code = 'noMetadataFormats'">This record has no metadata format</xsl:when>
          <xsl:when test="@code = 'noSetHierarchy'">This repository has no sets</xsl:when>
          <xsl:otherwise>Error</xsl:otherwise>
        </xsl:choose>
        <xsl:text> </xsl:text>
        <span class="muted">(<code><xsl:value-of select="@code"/></code>)</span>
      </h2>
      <p>
        <xsl:choose>
          <xsl:when test="@code = 'badArgument'">
            <xsl:text>An argument is missing, repeated, not allowed with this verb, or its value is malformed (dates are written 2024-01-31 or 2024-01-31T12:00:00Z).</xsl:text>
          </xsl:when>
          <xsl:when test="@code = 'badResumptionToken'">
            <xsl:text>A resumption token continues a list from one page to the next. This one has expired, was changed, or was not issued by this repository. Start the list again from its first page.</xsl:text>
          </xsl:when>
          <xsl:when test="@code = 'badVerb'">
            <xsl:text>Every request names one verb: Identify, ListMetadataFormats, ListSets, ListIdentifiers, ListRecords or GetRecord. Use the links at the top of the page.</xsl:text>
          </xsl:when>
          <xsl:when test="@code = 'cannotDisseminateFormat'">
            <xsl:text>The record or the repository does not offer this metadataPrefix. </xsl:text>
            <a href="?verb=ListMetadataFormats">See the formats it offers</a>
            <xsl:text>.</xsl:text>
          </xsl:when>
          <xsl:when test="@code = 'idDoesNotExist'">
            <xsl:text>Identifiers must be given exactly as the repository lists them (such as oai:example.org:123). </xsl:text>
            <a href="?verb=ListIdentifiers&amp;metadataPrefix=oai_dc">See the identifiers it has</a>
            <xsl:text>.</xsl:text>
          </xsl:when>
          <xsl:when test="@code = 'noRecordsMatch'">
            <xsl:text>Nothing is wrong: no record has the format, set and dates asked for. Try a wider date range or another set.</xsl:text>
          </xsl:when>
          <xsl:when test="@code = 'noMetadataFormats'">
            <xsl:text>The record exists but cannot be shown in any metadata format.</xsl:text>
          </xsl:when>
          <xsl:when test="@code = 'noSetHierarchy'">
            <xsl:text>Records here are not grouped into sets, so a set cannot be listed or asked for.</xsl:text>
          </xsl:when>
        </xsl:choose>
      </p>
      <xsl:if test="normalize-space(.)">
        <p class="said">Details: <xsl:value-of select="normalize-space(.)"/></p>
      </xsl:if>
    </section>
  </xsl:template>

  <!-- ===================================================================== Identify (§4.2) -->

  <xsl:template match="oai:Identify">
    <table class="fields">
      <tr><th scope="row">Repository name</th><td><xsl:value-of select="oai:repositoryName"/></td></tr>
      <tr>
        <th scope="row">Base URL (give this to harvesters)</th>
        <td><code><xsl:value-of select="oai:baseURL"/></code></td>
      </tr>
      <tr><th scope="row">Protocol</th><td>OAI-PMH <xsl:value-of select="oai:protocolVersion"/></td></tr>
      <tr>
        <th scope="row">Administrator</th>
        <td>
          <xsl:for-each select="oai:adminEmail">
            <div><a href="mailto:{.}"><xsl:value-of select="."/></a></div>
          </xsl:for-each>
        </td>
      </tr>
      <tr>
        <th scope="row">Oldest record date</th>
        <td>
          <xsl:call-template name="date">
            <xsl:with-param name="d" select="oai:earliestDatestamp"/>
          </xsl:call-template>
        </td>
      </tr>
      <tr>
        <th scope="row">Deleted records</th>
        <td>
          <xsl:choose>
            <xsl:when test="oai:deletedRecord = 'persistent'">Kept: a deleted record stays listed as deleted, so harvesters learn of every deletion.</xsl:when>
            <xsl:when test="oai:deletedRecord = 'transient'">Listed as deleted for a while only: harvest often enough to learn of every deletion.</xsl:when>
            <xsl:when test="oai:deletedRecord = 'no'">Not tracked: a deleted record simply disappears.</xsl:when>
            <xsl:otherwise><xsl:value-of select="oai:deletedRecord"/></xsl:otherwise>
          </xsl:choose>
        </td>
      </tr>
      <tr>
        <th scope="row">Date precision</th>
        <td>
          <xsl:choose>
            <xsl:when test="oai:granularity = 'YYYY-MM-DDThh:mm:ssZ'">To the second (from and until can be 2024-01-31T12:00:00Z or 2024-01-31)</xsl:when>
            <xsl:otherwise>To the day (from and until are written 2024-01-31)</xsl:otherwise>
          </xsl:choose>
        </td>
      </tr>
      <xsl:if test="oai:compression">
        <tr>
          <th scope="row">Compression</th>
          <td>
            <xsl:for-each select="oai:compression">
              <xsl:if test="position() &gt; 1">, </xsl:if>
              <xsl:value-of select="."/>
            </xsl:for-each>
          </td>
        </tr>
      </xsl:if>
      <xsl:for-each select="oai:description/oai-id:oai-identifier">
        <tr>
          <th scope="row">Identifiers</th>
          <td>
            <xsl:text>Records are named </xsl:text>
            <code>
              <xsl:value-of select="oai-id:scheme"/>
              <xsl:value-of select="oai-id:delimiter"/>
              <xsl:value-of select="oai-id:repositoryIdentifier"/>
              <xsl:value-of select="oai-id:delimiter"/>
              <xsl:text>…</xsl:text>
            </code>
            <xsl:text>, for example </xsl:text>
            <a>
              <xsl:attribute name="href">
                <xsl:call-template name="get-record-href">
                  <xsl:with-param name="identifier" select="oai-id:sampleIdentifier"/>
                </xsl:call-template>
              </xsl:attribute>
              <code><xsl:value-of select="oai-id:sampleIdentifier"/></code>
            </a>
            <xsl:text>.</xsl:text>
          </td>
        </tr>
      </xsl:for-each>
      <xsl:for-each select="oai:description/*[not(self::oai-id:oai-identifier)]">
        <tr>
          <th scope="row">Description</th>
          <td><ul class="generic"><xsl:apply-templates select="." mode="generic"/></ul></td>
        </tr>
      </xsl:for-each>
    </table>
    <p>
      <xsl:text>Start with </xsl:text>
      <a href="?verb=ListRecords&amp;metadataPrefix=oai_dc">all records</a>
      <xsl:text>, </xsl:text>
      <a href="?verb=ListSets">the sets</a>
      <xsl:text> or </xsl:text>
      <a href="?verb=ListMetadataFormats">the metadata formats</a>
      <xsl:text>.</xsl:text>
    </p>
  </xsl:template>

  <!-- ===================================================================== records (§4.1, §4.5) -->

  <xsl:template match="oai:GetRecord | oai:ListRecords">
    <xsl:if test="self::oai:ListRecords">
      <xsl:call-template name="page-summary">
        <xsl:with-param name="count" select="count(oai:record)"/>
        <xsl:with-param name="noun">records</xsl:with-param>
      </xsl:call-template>
    </xsl:if>
    <xsl:apply-templates select="oai:record"/>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:record">
    <xsl:variable name="deleted" select="oai:header/@status = 'deleted'"/>
    <article>
      <xsl:attribute name="class">
        <xsl:text>record</xsl:text>
        <xsl:if test="$deleted"> deleted</xsl:if>
      </xsl:attribute>
      <h2>
        <a>
          <xsl:attribute name="href">
            <xsl:call-template name="get-record-href">
              <xsl:with-param name="identifier" select="oai:header/oai:identifier"/>
            </xsl:call-template>
          </xsl:attribute>
          <xsl:choose>
            <xsl:when test="oai:metadata/oai_dc:dc/dc:title">
              <xsl:value-of select="oai:metadata/oai_dc:dc/dc:title[1]"/>
            </xsl:when>
            <xsl:otherwise><xsl:value-of select="oai:header/oai:identifier"/></xsl:otherwise>
          </xsl:choose>
        </a>
        <xsl:if test="$deleted"><xsl:text> </xsl:text><span class="muted">(deleted)</span></xsl:if>
      </h2>
      <xsl:if test="$deleted">
        <p>This record was deleted. It stays listed so that harvesters remove their copy too.</p>
      </xsl:if>
      <xsl:apply-templates select="oai:metadata"/>
      <xsl:apply-templates select="oai:about"/>
      <xsl:apply-templates select="oai:header"/>
    </article>
  </xsl:template>

  <xsl:template match="oai:header">
    <p class="header-line">
      <xsl:text>Identifier </xsl:text>
      <code><xsl:value-of select="oai:identifier"/></code>
      <xsl:text> · last changed </xsl:text>
      <xsl:call-template name="date">
        <xsl:with-param name="d" select="oai:datestamp"/>
      </xsl:call-template>
      <xsl:if test="oai:setSpec">
        <xsl:text> · in </xsl:text>
        <xsl:call-template name="set-links"/>
      </xsl:if>
    </p>
  </xsl:template>

  <xsl:template name="set-links">
    <xsl:for-each select="oai:setSpec">
      <xsl:if test="position() &gt; 1">, </xsl:if>
      <a>
        <xsl:attribute name="href">
          <xsl:text>?verb=ListRecords&amp;metadataPrefix=</xsl:text>
          <xsl:call-template name="url-encode"><xsl:with-param name="s" select="$prefix"/></xsl:call-template>
          <xsl:text>&amp;set=</xsl:text>
          <xsl:call-template name="url-encode"><xsl:with-param name="s" select="."/></xsl:call-template>
        </xsl:attribute>
        <xsl:value-of select="."/>
      </a>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="oai:metadata">
    <xsl:choose>
      <xsl:when test="oai_dc:dc"><xsl:apply-templates select="oai_dc:dc"/></xsl:when>
      <xsl:otherwise>
        <ul class="generic"><xsl:apply-templates select="*" mode="generic"/></ul>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Dublin Core: the fifteen elements in their canonical order, in plain words. -->
  <xsl:template match="oai_dc:dc">
    <table class="fields">
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Title</xsl:with-param><xsl:with-param name="values" select="dc:title"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Author or creator</xsl:with-param><xsl:with-param name="values" select="dc:creator"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Subject</xsl:with-param><xsl:with-param name="values" select="dc:subject"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Description</xsl:with-param><xsl:with-param name="values" select="dc:description"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Publisher</xsl:with-param><xsl:with-param name="values" select="dc:publisher"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Contributor</xsl:with-param><xsl:with-param name="values" select="dc:contributor"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Date</xsl:with-param><xsl:with-param name="values" select="dc:date"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Type</xsl:with-param><xsl:with-param name="values" select="dc:type"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Format</xsl:with-param><xsl:with-param name="values" select="dc:format"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Identifier or link</xsl:with-param><xsl:with-param name="values" select="dc:identifier"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Source</xsl:with-param><xsl:with-param name="values" select="dc:source"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Language</xsl:with-param><xsl:with-param name="values" select="dc:language"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Related to</xsl:with-param><xsl:with-param name="values" select="dc:relation"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Place or period covered</xsl:with-param><xsl:with-param name="values" select="dc:coverage"/></xsl:call-template>
      <xsl:call-template name="dc-row"><xsl:with-param name="label">Rights</xsl:with-param><xsl:with-param name="values" select="dc:rights"/></xsl:call-template>
    </table>
  </xsl:template>

  <xsl:template name="dc-row">
    <xsl:param name="label"/>
    <xsl:param name="values"/>
    <xsl:if test="$values">
      <tr>
        <th scope="row"><xsl:value-of select="$label"/></th>
        <td>
          <xsl:for-each select="$values">
            <div><xsl:apply-templates select="." mode="value"/></div>
          </xsl:for-each>
        </td>
      </tr>
    </xsl:if>
  </xsl:template>

  <!-- One value: a link when it is a web address (only http and https, never javascript:). -->
  <xsl:template match="*" mode="value">
    <xsl:variable name="v" select="normalize-space(.)"/>
    <xsl:choose>
      <xsl:when test="(starts-with($v, 'http://') or starts-with($v, 'https://')) and not(contains($v, ' '))">
        <a href="{$v}"><xsl:value-of select="$v"/></a>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="."/></xsl:otherwise>
    </xsl:choose>
    <xsl:if test="@xml:lang">
      <xsl:text> </xsl:text>
      <span class="lang">(<xsl:value-of select="@xml:lang"/>)</span>
    </xsl:if>
  </xsl:template>

  <xsl:template match="oai:about">
    <xsl:choose>
      <xsl:when test="prov:provenance">
        <xsl:apply-templates select="prov:provenance/prov:originDescription"/>
      </xsl:when>
      <xsl:otherwise>
        <ul class="generic"><xsl:apply-templates select="*" mode="generic"/></ul>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Provenance (the OAI provenance schema): where a harvested record came from. -->
  <xsl:template match="prov:originDescription">
    <p class="header-line">
      <xsl:choose>
        <xsl:when test="parent::prov:provenance">Harvested</xsl:when>
        <xsl:otherwise>which had harvested it</xsl:otherwise>
      </xsl:choose>
      <xsl:if test="@harvestDate">
        <xsl:text> on </xsl:text>
        <xsl:call-template name="date"><xsl:with-param name="d" select="@harvestDate"/></xsl:call-template>
      </xsl:if>
      <xsl:text> from </xsl:text>
      <code><xsl:value-of select="prov:baseURL"/></code>
      <xsl:text>, where it is </xsl:text>
      <code><xsl:value-of select="prov:identifier"/></code>
      <xsl:text> (last changed </xsl:text>
      <xsl:call-template name="date"><xsl:with-param name="d" select="prov:datestamp"/></xsl:call-template>
      <xsl:text>)</xsl:text>
      <xsl:choose>
        <xsl:when test="prov:originDescription">,</xsl:when>
        <xsl:otherwise>.</xsl:otherwise>
      </xsl:choose>
    </p>
    <xsl:apply-templates select="prov:originDescription"/>
  </xsl:template>

  <!-- Any other XML (metadata formats other than oai_dc, descriptions): element names and text. -->
  <xsl:template match="*" mode="generic">
    <li>
      <span class="muted"><xsl:value-of select="local-name()"/></span>
      <xsl:for-each select="@*[local-name() != 'schemaLocation']">
        <xsl:text> </xsl:text>
        <span class="muted"><xsl:value-of select="local-name()"/>=</span>
        <xsl:value-of select="."/>
      </xsl:for-each>
      <xsl:choose>
        <xsl:when test="*">
          <ul class="generic"><xsl:apply-templates select="*" mode="generic"/></ul>
        </xsl:when>
        <xsl:when test="normalize-space(.)">
          <xsl:text>: </xsl:text>
          <xsl:apply-templates select="." mode="value"/>
        </xsl:when>
      </xsl:choose>
    </li>
  </xsl:template>

  <!-- ===================================================================== ListIdentifiers (§4.3) -->

  <xsl:template match="oai:ListIdentifiers">
    <xsl:call-template name="page-summary">
      <xsl:with-param name="count" select="count(oai:header)"/>
      <xsl:with-param name="noun">records</xsl:with-param>
    </xsl:call-template>
    <table>
      <thead><tr><th>Identifier</th><th>Last changed</th><th>Sets</th></tr></thead>
      <tbody>
        <xsl:for-each select="oai:header">
          <tr>
            <td>
              <a>
                <xsl:attribute name="href">
                  <xsl:call-template name="get-record-href">
                    <xsl:with-param name="identifier" select="oai:identifier"/>
                  </xsl:call-template>
                </xsl:attribute>
                <code><xsl:value-of select="oai:identifier"/></code>
              </a>
              <xsl:if test="@status = 'deleted'"><xsl:text> </xsl:text><span class="muted">(deleted)</span></xsl:if>
            </td>
            <td>
              <xsl:call-template name="date"><xsl:with-param name="d" select="oai:datestamp"/></xsl:call-template>
            </td>
            <td><xsl:call-template name="set-links"/></td>
          </tr>
        </xsl:for-each>
      </tbody>
    </table>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <!-- ===================================================================== ListSets (§4.6) -->

  <xsl:template match="oai:ListSets">
    <xsl:call-template name="page-summary">
      <xsl:with-param name="count" select="count(oai:set)"/>
      <xsl:with-param name="noun">sets</xsl:with-param>
    </xsl:call-template>
    <table>
      <thead><tr><th>Set</th><th>Name</th><th>Description</th></tr></thead>
      <tbody>
        <xsl:for-each select="oai:set">
          <tr>
            <td>
              <a>
                <xsl:attribute name="href">
                  <xsl:text>?verb=ListRecords&amp;metadataPrefix=oai_dc&amp;set=</xsl:text>
                  <xsl:call-template name="url-encode"><xsl:with-param name="s" select="oai:setSpec"/></xsl:call-template>
                </xsl:attribute>
                <code><xsl:value-of select="oai:setSpec"/></code>
              </a>
            </td>
            <td><xsl:value-of select="oai:setName"/></td>
            <td>
              <xsl:for-each select="oai:setDescription/oai_dc:dc/dc:description">
                <div><xsl:apply-templates select="." mode="value"/></div>
              </xsl:for-each>
            </td>
          </tr>
        </xsl:for-each>
      </tbody>
    </table>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <!-- ===================================================================== ListMetadataFormats (§4.4) -->

  <xsl:template match="oai:ListMetadataFormats">
    <xsl:if test="$request/@identifier">
      <p>
        <xsl:text>The formats in which record </xsl:text>
        <code><xsl:value-of select="$request/@identifier"/></code>
        <xsl:text> is available.</xsl:text>
      </p>
    </xsl:if>
    <table>
      <thead><tr><th>Format (metadataPrefix)</th><th>Schema</th><th>Namespace</th></tr></thead>
      <tbody>
        <xsl:for-each select="oai:metadataFormat">
          <tr>
            <td>
              <a>
                <xsl:attribute name="href">
                  <xsl:choose>
                    <xsl:when test="$request/@identifier">
                      <xsl:text>?verb=GetRecord&amp;metadataPrefix=</xsl:text>
                      <xsl:call-template name="url-encode"><xsl:with-param name="s" select="oai:metadataPrefix"/></xsl:call-template>
                      <xsl:text>&amp;identifier=</xsl:text>
                      <xsl:call-template name="url-encode"><xsl:with-param name="s" select="$request/@identifier"/></xsl:call-template>
                    </xsl:when>
                    <xsl:otherwise>
                      <xsl:text>?verb=ListRecords&amp;metadataPrefix=</xsl:text>
                      <xsl:call-template name="url-encode"><xsl:with-param name="s" select="oai:metadataPrefix"/></xsl:call-template>
                    </xsl:otherwise>
                  </xsl:choose>
                </xsl:attribute>
                <code><xsl:value-of select="oai:metadataPrefix"/></code>
              </a>
            </td>
            <td><xsl:apply-templates select="oai:schema" mode="value"/></td>
            <td><code><xsl:value-of select="oai:metadataNamespace"/></code></td>
          </tr>
        </xsl:for-each>
      </tbody>
    </table>
  </xsl:template>

  <!-- ===================================================================== paging (§3.5) -->

  <!-- "Items 101 to 200 of 532" from the cursor and completeListSize of the resumptionToken. -->
  <xsl:template name="page-summary">
    <xsl:param name="count"/>
    <xsl:param name="noun"/>
    <xsl:variable name="token" select="oai:resumptionToken"/>
    <p class="muted">
      <xsl:choose>
        <xsl:when test="$token/@completeListSize and $token/@cursor">
          <xsl:value-of select="concat('Items ', $token/@cursor + 1, ' to ', $token/@cursor + $count, ' of ', $token/@completeListSize, ' ', $noun, '.')"/>
        </xsl:when>
        <xsl:when test="$token/@completeListSize">
          <xsl:value-of select="concat($count, ' of ', $token/@completeListSize, ' ', $noun, ' on this page.')"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="concat($count, ' ', $noun, '.')"/>
        </xsl:otherwise>
      </xsl:choose>
    </p>
  </xsl:template>

  <xsl:template match="oai:resumptionToken">
    <nav class="pager" aria-label="Pages">
      <xsl:choose>
        <xsl:when test="normalize-space(.)">
          <a rel="next">
            <xsl:attribute name="href">
              <xsl:text>?verb=</xsl:text>
              <xsl:value-of select="$verb"/>
              <xsl:text>&amp;resumptionToken=</xsl:text>
              <xsl:call-template name="url-encode"><xsl:with-param name="s" select="normalize-space(.)"/></xsl:call-template>
            </xsl:attribute>
            <xsl:text>Next page →</xsl:text>
          </a>
          <xsl:if test="@expirationDate">
            <span class="muted">
              <xsl:text> (this link works until </xsl:text>
              <xsl:call-template name="date"><xsl:with-param name="d" select="@expirationDate"/></xsl:call-template>
              <xsl:text>)</xsl:text>
            </span>
          </xsl:if>
        </xsl:when>
        <xsl:otherwise>This is the last page.</xsl:otherwise>
      </xsl:choose>
    </nav>
  </xsl:template>

  <!-- ===================================================================== helpers -->

  <xsl:template name="get-record-href">
    <xsl:param name="identifier"/>
    <xsl:text>?verb=GetRecord&amp;metadataPrefix=</xsl:text>
    <xsl:call-template name="url-encode"><xsl:with-param name="s" select="$prefix"/></xsl:call-template>
    <xsl:text>&amp;identifier=</xsl:text>
    <xsl:call-template name="url-encode"><xsl:with-param name="s" select="normalize-space($identifier)"/></xsl:call-template>
  </xsl:template>

  <!-- 2024-01-31T12:00:00Z → 2024-01-31 12:00:00 UTC; a day stays as it is. -->
  <xsl:template name="date">
    <xsl:param name="d"/>
    <xsl:choose>
      <xsl:when test="contains($d, 'T')">
        <xsl:value-of select="concat(substring-before($d, 'T'), ' ', translate(substring-after($d, 'T'), 'Z', ''), ' UTC')"/>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$d"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- Percent-encoding of a query value (RFC 3986 unreserved characters stay as they are).
       XSLT 1.0 cannot read a character's code point, so printable ASCII is looked up in a table;
       anything beyond ASCII is left for the browser, which encodes it as UTF-8 when following the
       link. The string is halved at each step, so that recursion stays shallow for long values. -->
  <xsl:variable name="url-unreserved">ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~</xsl:variable>
  <xsl:variable name="url-ascii"> !"#$%&amp;'()*+,-./0123456789:;&lt;=&gt;?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~</xsl:variable>
  <xsl:variable name="url-hex">0123456789ABCDEF</xsl:variable>

  <xsl:template name="url-encode">
    <xsl:param name="s"/>
    <xsl:choose>
      <xsl:when test="translate($s, $url-unreserved, '') = ''">
        <xsl:value-of select="$s"/>
      </xsl:when>
      <xsl:when test="string-length($s) = 1">
        <xsl:choose>
          <xsl:when test="contains($url-ascii, $s)">
            <xsl:variable name="code" select="string-length(substring-before($url-ascii, $s)) + 32"/>
            <xsl:value-of select="concat('%', substring($url-hex, floor($code div 16) + 1, 1), substring($url-hex, $code mod 16 + 1, 1))"/>
          </xsl:when>
          <xsl:otherwise><xsl:value-of select="$s"/></xsl:otherwise>
        </xsl:choose>
      </xsl:when>
      <xsl:otherwise>
        <xsl:variable name="half" select="floor(string-length($s) div 2)"/>
        <xsl:call-template name="url-encode"><xsl:with-param name="s" select="substring($s, 1, $half)"/></xsl:call-template>
        <xsl:call-template name="url-encode"><xsl:with-param name="s" select="substring($s, $half + 1)"/></xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

</xsl:stylesheet>
