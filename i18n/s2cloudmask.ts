<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1">
<context>
    <name>CloudMaskDockBase</name>
    <message>
        <location filename="../ui/dock.ui" line="17"/>
        <source>Sentinel-2 Cloud Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="461"/>
        <source>Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="68"/>
        <source>Input</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="74"/>
        <source>Mask a Sentinel-2 product as ESA delivers it, or a raster layer of the project that holds Sentinel-2 bands.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="78"/>
        <source>Sentinel-2 product (.SAFE, .zip or MTD xml)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="83"/>
        <source>Raster layer in the project</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="112"/>
        <source>A Sentinel-2 L1C or L2A product: its .SAFE folder, the product .zip, or its MTD_MSIL1C.xml / MTD_MSIL2A.xml. You can also drop one onto this panel.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="115"/>
        <source>Drop a .SAFE folder, .zip or MTD xml here</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="122"/>
        <source>Choose a .SAFE folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="125"/>
        <source>Folder…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="132"/>
        <source>Choose a product .zip or its MTD_MSIL1C.xml / MTD_MSIL2A.xml</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="135"/>
        <source>File…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="144"/>
        <source>No product chosen.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="176"/>
        <source>Layer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="183"/>
        <source>A raster layer (GDAL) holding Sentinel-2 bands as digital numbers or reflectance.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="190"/>
        <source>Blue (B02)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="200"/>
        <source>Green (B03)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="210"/>
        <source>Red (B04)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="220"/>
        <source>NIR (B08)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="230"/>
        <source>SWIR 1.6 µm (B11)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="251"/>
        <source>Optional: without the SWIR bands the 4-band model runs.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="244"/>
        <source>SWIR 2.2 µm (B12)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="258"/>
        <source>Scale</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="265"/>
        <source>Reflectance = value × scale + offset. Sentinel-2 digital numbers: scale 0.0001.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="287"/>
        <source>Offset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="294"/>
        <source>Reflectance = value × scale + offset. Products of processing baseline 04.00 or later: -0.1.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="316"/>
        <source>Level</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="323"/>
        <source>Top-of-atmosphere (L1C) or surface (L2A) reflectance: picks the matching model.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="327"/>
        <source>L2A (surface reflectance)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="332"/>
        <source>L1C (top of atmosphere)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="356"/>
        <source>Model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="363"/>
        <source>Leave empty for the built-in DLR U-Net that matches the product level, or choose an .onnx model with a model card.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="366"/>
        <source>ONNX models (*.onnx)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="373"/>
        <source>Device</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="383"/>
        <source>Resolution</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="390"/>
        <source>Pixel size of the mask; the model itself runs at its own resolution.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="400"/>
        <source>Unchecked: the whole product. Checked: only this extent, which masks much faster.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="413"/>
        <source>Compare with Sen2Cor&apos;s SCL</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="422"/>
        <source>SCL</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="432"/>
        <source>Source</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="439"/>
        <source>The L2A product that matches this mask (its .zip or MTD_MSIL2A.xml) or an SCL raster.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="442"/>
        <source>L2A product or SCL raster (*.zip *.xml *.jp2 *.tif *.tiff *.vrt);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="452"/>
        <source>Output</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="468"/>
        <source>The mask GeoTIFF. The SCL difference, the report and the true-colour view are written beside it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="471"/>
        <source>GeoTIFF (*.tif *.tiff)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="499"/>
        <source>Results</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="531"/>
        <source>Ready.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="559"/>
        <source>Stop the running mask; nothing half-written is left behind.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="562"/>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dock.ui" line="569"/>
        <source>Run</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CloudMaskPlugin</name>
    <message>
        <location filename="../plugin.py" line="60"/>
        <source>Sentinel-2 Cloud Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="62"/>
        <source>Mask clouds and cloud shadows in a Sentinel-2 product</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="88"/>
        <source>Install dependencies…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="69"/>
        <source>Diagnostics…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../plugin.py" line="86"/>
        <source>Missing Python packages: {names}.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CloudMaskProvider</name>
    <message>
        <location filename="../processing/provider.py" line="23"/>
        <source>Sentinel-2 Cloud Mask</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/provider.py" line="26"/>
        <source>Sentinel-2 Cloud Mask (U-Net cloud, thin-cloud and cloud-shadow masks)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CompareSclAlgorithm</name>
    <message>
        <location filename="../processing/compare_scl.py" line="50"/>
        <source>Compare a cloud mask with Sen2Cor&apos;s SCL</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/compare_scl.py" line="53"/>
        <source>Comparison</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/compare_scl.py" line="62"/>
        <source>Difference raster, agreement, Cohen&apos;s kappa and per-class figures of a mask against SCL.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DependencyDialog</name>
    <message>
        <location filename="../ui/dependency_dialog.py" line="36"/>
        <source>Sentinel-2 Cloud Mask: install dependencies</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="43"/>
        <source>Command: </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="55"/>
        <source>The installer&apos;s output (pip, then the self-test) appears here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="58"/>
        <source>Install</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="61"/>
        <source>Copy output</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="77"/>
        <source>All required packages are installed (in {folder} or QGIS&apos;s own Python).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="80"/>
        <source>Sentinel-2 Cloud Mask needs {names}. Install puts them into {folder}, outside the plugin folder so that plugin updates keep them, without touching QGIS&apos;s Python. It downloads about 200 MB (about 240 MB where rasterio is installed too).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="109"/>
        <source>
The installer could not be started. Run this command in a terminal (OSGeo4W Shell on Windows), then restart QGIS:
</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="123"/>
        <source>Installed, and the self-test passed. The plugin is ready; no restart needed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="127"/>
        <source>Installed, but the self-test failed (exit code {code}): the output below says which check. Copy it into a bug report.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/dependency_dialog.py" line="136"/>
        <source>Installation failed (exit code {code}); still missing: {names}. The output below says why; copy it into a bug report if it does not help.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DiagnosticsDialog</name>
    <message>
        <location filename="../ui/diagnostics_dialog.py" line="14"/>
        <source>Sentinel-2 Cloud Mask: diagnostics</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../ui/diagnostics_dialog.py" line="20"/>
        <source>Copy to clipboard</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MaskProductAlgorithm</name>
    <message>
        <location filename="../processing/mask_product.py" line="41"/>
        <source>Mask clouds in a Sentinel-2 product</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/mask_product.py" line="47"/>
        <source>Four-class cloud mask (clear, cloud shadow, semi-transparent cloud, cloud) of an L1C or L2A product.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MaskRasterAlgorithm</name>
    <message>
        <location filename="../processing/mask_raster.py" line="51"/>
        <source>Mask clouds in a raster of Sentinel-2 bands</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../processing/mask_raster.py" line="57"/>
        <source>Four-class cloud mask of any raster layer holding Sentinel-2 bands, with the band mapping given.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MaskingAlgorithm</name>
    <message>
        <location filename="../processing/base.py" line="208"/>
        <source>Cloud masking</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
